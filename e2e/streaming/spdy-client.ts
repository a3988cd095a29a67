/**
 * A minimal SPDY/3.1 client for tests, written independently of the
 * server's framer (src/streaming/spdy) so the two cannot share a bug.
 * It behaves like client-go + moby/spdystream: HTTP upgrade with
 * `X-Stream-Protocol-Version` offers, client-initiated odd stream ids,
 * headers compressed with the SPDY/3 dictionary, no flow control.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as zlib from 'node:zlib';
import type { Duplex } from 'node:stream';

// SPDY/3 draft §2.6.10.1 dictionary, as bytes (taken from npm spdy-transport's dictionary[3]).
const DICT = Buffer.from(
  'AAAAB29wdGlvbnMAAAAEaGVhZAAAAARwb3N0AAAAA3B1dAAAAAZkZWxldGUAAAAFdHJhY2UAAAAGYWNjZXB0AAAADmFjY2VwdC1j' +
    'aGFyc2V0AAAAD2FjY2VwdC1lbmNvZGluZwAAAA9hY2NlcHQtbGFuZ3VhZ2UAAAANYWNjZXB0LXJhbmdlcwAAAANhZ2UAAAAFYWxs' +
    'b3cAAAANYXV0aG9yaXphdGlvbgAAAA1jYWNoZS1jb250cm9sAAAACmNvbm5lY3Rpb24AAAAMY29udGVudC1iYXNlAAAAEGNvbnRl' +
    'bnQtZW5jb2RpbmcAAAAQY29udGVudC1sYW5ndWFnZQAAAA5jb250ZW50LWxlbmd0aAAAABBjb250ZW50LWxvY2F0aW9uAAAAC2Nv' +
    'bnRlbnQtbWQ1AAAADWNvbnRlbnQtcmFuZ2UAAAAMY29udGVudC10eXBlAAAABGRhdGUAAAAEZXRhZwAAAAZleHBlY3QAAAAHZXhw' +
    'aXJlcwAAAARmcm9tAAAABGhvc3QAAAAIaWYtbWF0Y2gAAAARaWYtbW9kaWZpZWQtc2luY2UAAAANaWYtbm9uZS1tYXRjaAAAAAhp' +
    'Zi1yYW5nZQAAABNpZi11bm1vZGlmaWVkLXNpbmNlAAAADWxhc3QtbW9kaWZpZWQAAAAIbG9jYXRpb24AAAAMbWF4LWZvcndhcmRz' +
    'AAAABnByYWdtYQAAABJwcm94eS1hdXRoZW50aWNhdGUAAAATcHJveHktYXV0aG9yaXphdGlvbgAAAAVyYW5nZQAAAAdyZWZlcmVy' +
    'AAAAC3JldHJ5LWFmdGVyAAAABnNlcnZlcgAAAAJ0ZQAAAAd0cmFpbGVyAAAAEXRyYW5zZmVyLWVuY29kaW5nAAAAB3VwZ3JhZGUA' +
    'AAAKdXNlci1hZ2VudAAAAAR2YXJ5AAAAA3ZpYQAAAAd3YXJuaW5nAAAAEHd3dy1hdXRoZW50aWNhdGUAAAAGbWV0aG9kAAAAA2dl' +
    'dAAAAAZzdGF0dXMAAAAGMjAwIE9LAAAAB3ZlcnNpb24AAAAISFRUUC8xLjEAAAADdXJsAAAABnB1YmxpYwAAAApzZXQtY29va2ll' +
    'AAAACmtlZXAtYWxpdmUAAAAGb3JpZ2luMTAwMTAxMjAxMjAyMjA1MjA2MzAwMzAyMzAzMzA0MzA1MzA2MzA3NDAyNDA1NDA2NDA3' +
    'NDA4NDA5NDEwNDExNDEyNDEzNDE0NDE1NDE2NDE3NTAyNTA0NTA1MjAzIE5vbi1BdXRob3JpdGF0aXZlIEluZm9ybWF0aW9uMjA0' +
    'IE5vIENvbnRlbnQzMDEgTW92ZWQgUGVybWFuZW50bHk0MDAgQmFkIFJlcXVlc3Q0MDEgVW5hdXRob3JpemVkNDAzIEZvcmJpZGRl' +
    'bjQwNCBOb3QgRm91bmQ1MDAgSW50ZXJuYWwgU2VydmVyIEVycm9yNTAxIE5vdCBJbXBsZW1lbnRlZDUwMyBTZXJ2aWNlIFVuYXZh' +
    'aWxhYmxlSmFuIEZlYiBNYXIgQXByIE1heSBKdW4gSnVsIEF1ZyBTZXB0IE9jdCBOb3YgRGVjIDAwOjAwOjAwIE1vbiwgVHVlLCBX' +
    'ZWQsIFRodSwgRnJpLCBTYXQsIFN1biwgR01UY2h1bmtlZCx0ZXh0L2h0bWwsaW1hZ2UvcG5nLGltYWdlL2pwZyxpbWFnZS9naWYs' +
    'YXBwbGljYXRpb24veG1sLGFwcGxpY2F0aW9uL3hodG1sK3htbCx0ZXh0L3BsYWluLHRleHQvamF2YXNjcmlwdCxwdWJsaWNwcml2' +
    'YXRlbWF4LWFnZT1nemlwLGRlZmxhdGUsc2RjaGNoYXJzZXQ9dXRmLThjaGFyc2V0PWlzby04ODU5LTEsdXRmLSwqLGVucT0wLg==',
  'base64',
);

const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;

/** Serialised zlib transform: one context for the whole connection, sync-flushed per block. */
class Zctx {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(private readonly z: zlib.Deflate | zlib.Inflate) {}
  process(input: Buffer): Promise<Buffer> {
    const p = this.chain.then(
      () =>
        new Promise<Buffer>((resolve) => {
          this.z.write(input);
          this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            const parts: Buffer[] = [];
            for (let b = this.z.read() as Buffer | null; b !== null; b = this.z.read() as Buffer | null) parts.push(b);
            resolve(Buffer.concat(parts));
          });
        }),
    );
    this.chain = p;
    return p;
  }
}

export class ClientStream {
  readonly chunks: Buffer[] = [];
  /** 'fin' when the server finished the stream, 'rst' when it reset it. */
  readonly ended: Promise<'fin' | 'rst'>;
  replied!: Promise<void>;
  onData: ((b: Buffer) => void) | undefined;
  private settle!: (how: 'fin' | 'rst') => void;
  private done = false;
  constructor(
    readonly id: number,
    private readonly conn: SpdyClient,
  ) {
    this.ended = new Promise((r) => (this.settle = r));
  }
  write(data: Buffer | string): void {
    this.conn.sendData(this.id, Buffer.from(data), false);
  }
  /** Half-closes our side (empty DATA with FIN), like spdystream's Close. */
  finish(): void {
    this.conn.sendData(this.id, Buffer.alloc(0), true);
  }
  reset(): void {
    this.conn.sendRst(this.id);
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
  /** Resolves with everything received once the server finished or reset the stream. */
  async all(): Promise<Buffer> {
    await this.ended;
    return Buffer.concat(this.chunks);
  }
  _data(b: Buffer, fin: boolean): void {
    if (b.length) {
      this.chunks.push(b);
      this.onData?.(b);
    }
    if (fin) this._end('fin');
  }
  _end(how: 'fin' | 'rst'): void {
    if (this.done) return;
    this.done = true;
    this.settle(how);
  }
}

export interface HandshakeResult {
  readonly status: number;
  readonly headers: Record<string, string[]>;
  readonly body: string;
}

export class SpdyClient {
  private nextId = 1;
  private readonly streams = new Map<number, ClientStream>();
  private readonly replies = new Map<number, { ok: () => void; fail: (e: Error) => void }>();
  private readonly pings = new Map<number, () => void>();
  private readonly out = new Zctx(zlib.createDeflate({ dictionary: DICT }));
  private readonly inn = new Zctx(zlib.createInflate({ dictionary: DICT }));
  private buf = Buffer.alloc(0);
  private rx: Promise<void> = Promise.resolve();
  private sendChain: Promise<void> = Promise.resolve();
  goaway = false;
  readonly closed: Promise<void>;

  constructor(readonly socket: Duplex, leftover: Buffer) {
    this.closed = new Promise((r) => socket.once('close', () => r()));
    socket.on('close', () => {
      // Frames already received are handled first (header decoding is async).
      this.rx = this.rx.then(() => {
        for (const s of this.streams.values()) s._end('rst');
        for (const r of this.replies.values()) r.fail(new Error('connection closed'));
      });
    });
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => this.feed(d));
    if (leftover.length) this.feed(leftover);
  }

  /** Opens a stream; resolves after the server's SYN_REPLY, rejects on RST. */
  async open(headers: Record<string, string>, fin = false): Promise<ClientStream> {
    const id = this.nextId;
    this.nextId += 2;
    const s = new ClientStream(id, this);
    this.streams.set(id, s);
    s.replied = new Promise<void>((ok, fail) => this.replies.set(id, { ok, fail }));
    s.replied.catch(() => undefined);
    const entries = Object.entries(headers);
    const parts: Buffer[] = [u32(entries.length)];
    for (const [k, v] of entries) parts.push(u32(Buffer.byteLength(k)), Buffer.from(k), u32(Buffer.byteLength(v)), Buffer.from(v));
    const block = this.out.process(Buffer.concat(parts));
    this.enqueue(block.then((b) => control(SYN_STREAM, fin ? 1 : 0, Buffer.concat([u32(id), u32(0), Buffer.from([0, 0]), b]))));
    await s.replied;
    return s;
  }

  ping(id = 1): Promise<void> {
    return new Promise((r) => {
      this.pings.set(id, r);
      this.enqueue(Promise.resolve(control(PING, 0, u32(id))));
    });
  }

  sendData(id: number, payload: Buffer, fin: boolean): void {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(id, 0);
    h.writeUInt32BE(((fin ? 1 : 0) << 24) | payload.length, 4);
    this.enqueue(Promise.resolve(Buffer.concat([h, payload])));
  }

  sendRst(id: number): void {
    this.enqueue(Promise.resolve(control(RST_STREAM, 0, Buffer.concat([u32(id), u32(5)]))));
  }

  /** What client-go does at the end: GOAWAY, then close the socket. */
  async close(): Promise<void> {
    this.enqueue(Promise.resolve(control(GOAWAY, 0, Buffer.concat([u32(0), u32(0)]))));
    await this.sendChain;
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private enqueue(frame: Promise<Buffer>): void {
    this.sendChain = this.sendChain.then(async () => {
      const f = await frame;
      if (!this.socket.destroyed) this.socket.write(f);
    });
  }

  private feed(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 8) {
      const len = this.buf.readUIntBE(5, 3);
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      this.rx = this.rx.then(() => this.handle(frame));
    }
  }

  private async handle(f: Buffer): Promise<void> {
    const flags = f[4]!;
    const payload = f.subarray(8);
    if ((f[0]! & 0x80) === 0) {
      const id = f.readUInt32BE(0) & 0x7fffffff;
      this.streams.get(id)?._data(payload, (flags & 1) === 1);
      return;
    }
    const type = f.readUInt16BE(2);
    if (type === SYN_REPLY) {
      const id = payload.readUInt32BE(0) & 0x7fffffff;
      await this.inn.process(payload.subarray(4)); // keep the inflate context in step
      this.replies.get(id)?.ok();
      this.replies.delete(id);
      if ((flags & 1) === 1) this.streams.get(id)?._end('fin');
    } else if (type === RST_STREAM) {
      const id = payload.readUInt32BE(0) & 0x7fffffff;
      this.replies.get(id)?.fail(new Error(`stream ${id} reset with status ${payload.readUInt32BE(4)}`));
      this.replies.delete(id);
      this.streams.get(id)?._end('rst');
    } else if (type === PING) {
      const id = payload.readUInt32BE(0);
      this.pings.get(id)?.();
      this.pings.delete(id);
    } else if (type === GOAWAY) {
      this.goaway = true;
    }
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE((flags << 24) | payload.length, 4);
  return Buffer.concat([h, payload]);
}

export interface DialOptions {
  readonly protocols: readonly string[];
  readonly method?: 'POST' | 'GET';
  /** Extra raw header lines. */
  readonly headers?: Record<string, string>;
  readonly ca?: string;
}

/**
 * Sends the upgrade request. On 101 returns a connected client; otherwise
 * the HTTP response (status, headers, body) and no client.
 */
export async function dialSpdy(url: string, opts: DialOptions): Promise<{ client?: SpdyClient; response: HandshakeResult }> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port);
  const socket: net.Socket =
    u.protocol === 'https:'
      ? tls.connect({ host, port, ca: opts.ca, servername: net.isIP(host) ? undefined : host, checkServerIdentity: () => undefined })
      : net.connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once(u.protocol === 'https:' ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
  socket.setNoDelay(true);
  const lines = [`${opts.method ?? 'POST'} ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, 'Connection: Upgrade', 'Upgrade: SPDY/3.1', 'Content-Length: 0'];
  for (const p of opts.protocols) lines.push(`X-Stream-Protocol-Version: ${p}`);
  for (const [k, v] of Object.entries(opts.headers ?? {})) lines.push(`${k}: ${v}`);
  socket.write(lines.join('\r\n') + '\r\n\r\n');

  let acc = Buffer.alloc(0);
  const { head, rest } = await new Promise<{ head: string; rest: Buffer }>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      acc = Buffer.concat([acc, d]);
      const i = acc.indexOf('\r\n\r\n');
      if (i < 0) return;
      socket.off('data', onData);
      socket.pause();
      resolve({ head: acc.subarray(0, i).toString('latin1'), rest: acc.subarray(i + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('end', () => reject(new Error(`connection closed during handshake: ${acc.toString()}`)));
  });
  const [statusLine, ...headerLines] = head.split('\r\n');
  const status = Number(statusLine!.split(' ')[1]);
  const headers: Record<string, string[]> = {};
  for (const l of headerLines) {
    const c = l.indexOf(':');
    const k = l.slice(0, c).trim().toLowerCase();
    (headers[k] ??= []).push(l.slice(c + 1).trim());
  }
  if (status !== 101) {
    const len = Number(headers['content-length']?.[0] ?? 0);
    let body = rest;
    while (body.length < len) {
      const more = await new Promise<Buffer | null>((r) => {
        socket.once('data', (d: Buffer) => r(d));
        socket.once('end', () => r(null));
        socket.resume();
      });
      if (!more) break;
      body = Buffer.concat([body, more]);
    }
    socket.destroy();
    return { response: { status, headers, body: body.toString() } };
  }
  const client = new SpdyClient(socket, rest);
  socket.resume();
  return { client, response: { status, headers, body: '' } };
}
