import { createServer, type Http2Server } from 'node:http2';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isValidAuthority } from './authority';
import { Flag, FrameType } from './frames';
import { clientOpening, FixtureEncoder, frame, headersFrames, parseFrames } from './testing';

/**
 * Our table of acceptable `:authority` bytes against the real thing: one
 * request per byte value (`a<byte>b`) to Node's own HTTP/2 server, over one
 * raw connection. nghttp2 resets the stream (RST_STREAM) for a value it
 * refuses and lets the request through otherwise.
 */
describe('authority bytes nghttp2 accepts', () => {
  let server: Http2Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => res.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('matches isValidAuthority for every byte value', async () => {
    const enc = new FixtureEncoder();
    const requests = Array.from({ length: 256 }, (_, b) =>
      headersFrames(2 * b + 1, enc.encode([
        { name: ':method', value: 'GET', as: 'indexed' },
        { name: ':scheme', value: 'http', as: 'indexed' },
        { name: ':path', value: '/', as: 'indexed' },
        { name: ':authority', value: Buffer.from([0x61, b, 0x62]), as: 'without' },
      ]), { endStream: true }),
    );
    const got = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      const done = (): void => {
        s.destroy();
        resolve(Buffer.concat(chunks));
      };
      const timer = setTimeout(() => reject(new Error('no answer')), 10_000);
      s.on('connect', () => s.write(Buffer.concat([clientOpening(), frame(FrameType.SETTINGS, Flag.ACK, 0), ...requests])));
      s.on('data', (b: Buffer) => {
        chunks.push(b);
        const frames = parseFrames(Buffer.concat(chunks));
        const answered = new Set(frames.filter((f) => f.type === FrameType.RST_STREAM || (f.type === FrameType.HEADERS || f.type === FrameType.DATA) && f.flags & Flag.END_STREAM).map((f) => f.stream));
        if (answered.size === 256) {
          clearTimeout(timer);
          done();
        }
      });
      s.on('error', reject);
    });
    const reset = new Set(parseFrames(got).filter((f) => f.type === FrameType.RST_STREAM).map((f) => (f.stream - 1) / 2));
    const mismatches = [];
    for (let b = 0; b < 256; b++) if (isValidAuthority(Buffer.from([0x61, b, 0x62])) === reset.has(b)) mismatches.push(b);
    expect(mismatches).toEqual([]);
    expect(reset.has('/'.charCodeAt(0))).toBe(true);
    expect(reset.has('%'.charCodeAt(0))).toBe(false);
  });
});
