/**
 * A bare-bones WebSocket client for the one case the `ws` client refuses:
 * the `SPDY/3.1+portforward.k8s.io` subprotocol, whose '/' is not an RFC 6455
 * token (Go's gorilla/websocket, used by kubectl and crictl, sends it anyway).
 * Binary messages in and out as a Duplex byte stream; pings answered.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { Duplex } from 'node:stream';

export async function rawWebSocket(url: string, protocol: string): Promise<{ stream: Duplex; protocol: string | undefined }> {
  const u = new URL(url);
  const sock = net.connect({ host: u.hostname, port: Number(u.port) });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  const key = randomBytes(16).toString('base64');
  sock.write(
    `GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  const head = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      sock.off('data', onData);
      const h = buf.subarray(0, i).toString('latin1');
      buf = buf.subarray(i + 4);
      resolve(h);
    };
    sock.on('data', onData);
    sock.once('error', reject);
  });
  if (!head.startsWith('HTTP/1.1 101')) throw new Error(`websocket handshake failed: ${head.split('\r\n')[0]}`);
  const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  if (!head.includes(`Sec-WebSocket-Accept: ${accept}`)) throw new Error('bad Sec-WebSocket-Accept');
  const proto = /^Sec-WebSocket-Protocol: (.*)$/im.exec(head)?.[1]?.trim();

  const frame = (opcode: number, payload: Buffer): Buffer => {
    const mask = randomBytes(4);
    const len = payload.length;
    const hdr = len < 126 ? Buffer.of(0x80 | opcode, 0x80 | len) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    if (len >= 126 && len < 65536) {
      hdr[0] = 0x80 | opcode;
      hdr[1] = 0x80 | 126;
      hdr.writeUInt16BE(len, 2);
    } else if (len >= 65536) {
      hdr[0] = 0x80 | opcode;
      hdr[1] = 0x80 | 127;
      hdr.writeBigUInt64BE(BigInt(len), 2);
    }
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i]! ^= mask[i % 4]!;
    return Buffer.concat([hdr, mask, masked]);
  };

  const stream = new Duplex({
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _e, cb) {
      sock.write(frame(2, chunk), cb);
    },
    final(cb) {
      sock.end(frame(8, Buffer.from([0x03, 0xe8])), () => cb());
    },
    destroy(err, cb) {
      sock.destroy();
      cb(err);
    },
  });
  const parse = (): void => {
    while (buf.length >= 2) {
      const opcode = buf[0]! & 0x0f;
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const payload = buf.subarray(off, off + len);
      buf = buf.subarray(off + len);
      if (opcode === 2 || opcode === 1 || opcode === 0) {
        if (!stream.push(payload)) sock.pause();
      } else if (opcode === 9) sock.write(frame(10, payload));
      else if (opcode === 8) {
        stream.push(null);
        sock.end();
      }
    }
  };
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    parse();
  });
  sock.on('close', () => stream.destroy());
  parse();
  return { stream, protocol: proto };
}
