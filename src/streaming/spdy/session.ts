import type { Duplex } from 'node:stream';
import { log } from '../../common/log';
import { FLAG_FIN, FrameParser, FrameType, RstStatus, encodeGoAway, encodePing, encodeRst, encodeSynReply, type Frame } from './frames';
import { HeaderCodec } from './header-codec';
import { SpdyStream, type FrameSink } from './stream';

/** Streams open at once on one connection; more are refused (RST_STREAM REFUSED_STREAM). */
export const MAX_STREAMS = 64;

export interface SpdySessionOptions {
  /** Bytes that arrived with the HTTP upgrade request, before the socket was handed over. */
  readonly head?: Buffer;
  /**
   * Called for each new client stream; return false to refuse it (RST, no
   * SYN_REPLY). Writes made during the call are held until the reply is
   * queued; ending the stream must wait until after the call.
   */
  readonly onStream: (stream: SpdyStream) => boolean;
  /** How long `close()` waits for the client to hang up before dropping the socket. */
  readonly lingerMs?: number;
}

/**
 * The server side of one SPDY/3.1 connection, as spoken by Kubernetes
 * clients (moby/spdystream). Deliberately partial: streams are only opened
 * by the client, there is no flow control (spdystream neither sends nor
 * honours WINDOW_UPDATE, so enforcing windows would stall output; socket
 * backpressure is used instead), SETTINGS/HEADERS/WINDOW_UPDATE are ignored,
 * and nothing is ever sent unprompted, because a Go client drops bytes that
 * arrive with the 101 response before it starts reading frames.
 */
export class SpdySession implements FrameSink {
  readonly #transport: Duplex;
  readonly #opts: SpdySessionOptions;
  readonly #parser = new FrameParser();
  readonly #codec = new HeaderCodec();
  readonly #streams = new Map<number, SpdyStream>();
  readonly #closed = new AbortController();
  #queue: Array<Buffer | Promise<Buffer>> = [];
  #pumping = false;
  #rx: Promise<void> = Promise.resolve();
  #lastStreamId = 0;
  #goingAway = false;
  #paused = false;

  constructor(transport: Duplex, opts: SpdySessionOptions) {
    this.#transport = transport;
    this.#opts = opts;
    transport.on('data', (chunk: Buffer) => this.#onBytes(chunk));
    transport.on('end', () => this.#teardown());
    transport.on('close', () => this.#teardown());
    transport.on('error', (err) => {
      log.debug({ err }, 'spdy connection error');
      this.#teardown();
    });
    if (opts.head && opts.head.length > 0) this.#onBytes(opts.head);
  }

  /** Aborted when the connection is gone (client hung up, error, or `destroy()`). */
  get signal(): AbortSignal {
    return this.#closed.signal;
  }

  get dead(): boolean {
    return this.#closed.signal.aborted || this.#transport.destroyed;
  }

  send(frame: Buffer | Promise<Buffer>): void {
    if (this.dead) return;
    if (this.#queue.length === 0 && Buffer.isBuffer(frame)) {
      this.#transport.write(frame);
      return;
    }
    this.#queue.push(frame);
    if (!this.#pumping) void this.#pump();
  }

  whenWritable(): Promise<void> {
    if (this.dead || !this.#transport.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.#transport.off('drain', done);
        this.#closed.signal.removeEventListener('abort', done);
        resolve();
      };
      this.#transport.on('drain', done);
      this.#closed.signal.addEventListener('abort', done);
    });
  }

  wantRead(): void {
    if (!this.#paused) return;
    for (const s of this.#streams.values()) if (s.full) return;
    this.#paused = false;
    this.#transport.resume();
  }

  forget(id: number): void {
    this.#streams.delete(id);
  }

  /**
   * Ends the connection the way the reference server does: RST every stream
   * we have not finished, GOAWAY, then half-close and wait for the client to
   * hang up (at most `lingerMs`). Data queued before this is still delivered.
   */
  async close(): Promise<void> {
    if (this.dead) return;
    // `destroy()` resets only streams we have not finished (see `SpdyStream`).
    for (const s of [...this.#streams.values()]) s.destroy();
    this.send(encodeGoAway(this.#lastStreamId, 0));
    await this.#drained();
    if (this.dead) return;
    this.#transport.end();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.destroy();
        resolve();
      }, this.#opts.lingerMs ?? 5000);
      timer.unref();
      this.#closed.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#transport.destroy();
    this.#teardown();
  }

  async #drained(): Promise<void> {
    while ((this.#pumping || this.#queue.length > 0) && !this.dead) {
      await new Promise((r) => setImmediate(r));
    }
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) {
        const frame = await this.#queue[0]!;
        this.#queue.shift();
        if (this.dead) break;
        this.#transport.write(frame);
      }
    } catch (err) {
      log.warn({ err }, 'failed to encode a spdy frame; dropping the connection');
      this.destroy();
    } finally {
      this.#pumping = false;
      if (this.dead) this.#queue = [];
    }
  }

  #onBytes(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.#parser.push(chunk);
    } catch (err) {
      log.debug({ err }, 'bad spdy frame; dropping the connection');
      this.destroy();
      return;
    }
    for (const frame of frames) {
      this.#rx = this.#rx.then(() => this.#onFrame(frame)).catch((err: unknown) => {
        log.debug({ err }, 'spdy protocol error; dropping the connection');
        this.destroy();
      });
    }
  }

  async #onFrame(frame: Frame): Promise<void> {
    if (this.dead) return;
    if (frame.kind === 'data') {
      const stream = this.#streams.get(frame.streamId);
      if (!stream) return; // data for a stream we reset or never saw: drop, as spdystream does
      stream.onData(frame.payload, (frame.flags & FLAG_FIN) !== 0);
      if (stream.full && !this.#paused) {
        // No flow control on the wire, so push back on the whole connection.
        this.#paused = true;
        this.#transport.pause();
      }
      return;
    }
    if (frame.version !== 3) throw new Error(`failed to handle spdy frame: version ${frame.version}`);
    const p = frame.payload;
    switch (frame.type) {
      case FrameType.SynStream:
        return this.#onSynStream(p, frame.flags);
      case FrameType.RstStream:
        if (p.length >= 4) this.#streams.get(p.readUInt32BE(0) & 0x7fffffff)?.onReset();
        return;
      case FrameType.Ping:
        // Only the client's pings (odd ids) are echoed; an even id would be our own.
        if (p.length === 4 && (p.readUInt32BE(0) & 1) === 1) this.send(encodePing(p.readUInt32BE(0)));
        return;
      case FrameType.GoAway:
        this.#goingAway = true;
        return;
      default:
        return; // SETTINGS, WINDOW_UPDATE, HEADERS and anything newer: nothing to do
    }
  }

  async #onSynStream(p: Buffer, flags: number): Promise<void> {
    if (p.length < 10) throw new Error('failed to handle SYN_STREAM: short frame');
    const id = p.readUInt32BE(0) & 0x7fffffff;
    // Always decode, even for streams we refuse: the zlib context must see every block.
    const headers = await this.#codec.decode(p.subarray(10));
    if (this.dead) return;
    if (id <= this.#lastStreamId || (id & 1) === 0 || this.#goingAway) {
      this.send(encodeRst(id, RstStatus.ProtocolError));
      return;
    }
    this.#lastStreamId = id;
    // exec and attach use up to 5 streams, a port-forward 2 per connection
    if (this.#streams.size >= MAX_STREAMS) {
      this.send(encodeRst(id, RstStatus.RefusedStream));
      return;
    }
    const stream = new SpdyStream(id, headers, this);
    this.#streams.set(id, stream);
    if ((flags & FLAG_FIN) !== 0) stream.onData(Buffer.alloc(0), true);
    // As in k8s.io/streaming, a refused stream gets only a RST, never a reply.
    // Writes are held back until the reply is queued, since DATA on a stream
    // the client has no reply for is dropped by spdystream.
    stream.cork();
    if (!this.#opts.onStream(stream)) {
      stream.reset(RstStatus.RefusedStream);
      return;
    }
    this.send(this.#codec.encode(new Map()).then((block) => encodeSynReply(id, block)));
    stream.uncork();
  }

  #teardown(): void {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort(new Error('spdy connection closed'));
    for (const s of [...this.#streams.values()]) s.destroy();
    this.#streams.clear();
    this.#codec.close();
    if (!this.#transport.destroyed) this.#transport.destroy();
  }
}
