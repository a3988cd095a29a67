import { describe, expect, it } from 'vitest';
import { isCriError } from '../../common/errors';
import { CLIENT_PREFACE, Flag, FrameType } from './frames';
import { HpackDecoder } from './hpack-decoder';
import { RequestFilter } from './request-filter';
import { SettingsWatch } from './settings-watch';
import { clientOpening, FixtureEncoder, frame, grpcData, headersFrames, parseFrames, type FieldSpec } from './testing';

/**
 * What crictl v1.26.1 (grpc-go 1.51) sent for `crictl version` on a socket at
 * /tmp/i13/cap.sock: preface, SETTINGS, WINDOW_UPDATE, the Version request on
 * stream 1 (Huffman literals, indexed into its dynamic table; Node reset it),
 * and the transparent retry on stream 3 made almost only of dynamic-table
 * indexes, then its DATA.
 */
const CRICTL_VERSION = Buffer.from(
  '505249202a20485454502f322e300d0a0d0a534d0d0a0d0a0000000400000000000000000401000000000000750104000000018386459962cb6a49a92afdc2bedb6a49a92ee2d9dcc42b1c4b620c7abf418c6134d6c182cb041d6ba0e4eb5f8b1d75d0620d263d4c4d65647a8a9acac8b4c7602bb615c140027465864d833505b11f408e9acac8b0c842d6958b510f21aa9b839bd9ab40899acac8b24d494f6a7f860bef34f3af5b0000100104000000038386c4c3c2c1c0bf7e860befbefb8edb00000900010000000300000000040a027631',
  'hex',
);

const newFilter = (o: Partial<{ maxBlockSize: number; maxListSize: number }> = {}): RequestFilter =>
  new RequestFilter({ maxBlockSize: o.maxBlockSize ?? 1 << 20, maxListSize: o.maxListSize ?? 1 << 20 });

/** Feeds `input` in pieces of the given sizes (cycled) and joins what comes out. */
function run(f: RequestFilter, input: Buffer, sizes: readonly number[] = [input.length]): Buffer {
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < input.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]!);
    out.push(...f.push(input.subarray(i, i + n)));
    i += n;
  }
  return Buffer.concat(out);
}

interface Block {
  stream: number;
  flags: number;
  fields: string[][];
}

/** Decodes the header blocks of a client byte stream as a server would (preface skipped when present). */
function serverView(bytes: Buffer, decoder = new HpackDecoder({ maxListSize: 1 << 20 })): { blocks: Block[]; frames: ReturnType<typeof parseFrames> } {
  const body = bytes.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE) ? bytes.subarray(CLIENT_PREFACE.length) : bytes;
  const frames = parseFrames(body);
  const blocks: Block[] = [];
  let pending: { stream: number; flags: number; parts: Buffer[] } | null = null;
  for (const fr of frames) {
    if (fr.type === FrameType.HEADERS) {
      let p = fr.payload;
      if (fr.flags & Flag.PADDED) p = p.subarray(1, p.length - p[0]!);
      if (fr.flags & Flag.PRIORITY) p = p.subarray(5);
      pending = { stream: fr.stream, flags: fr.flags, parts: [p] };
    } else if (fr.type === FrameType.CONTINUATION) pending!.parts.push(fr.payload);
    else continue;
    if (fr.flags & Flag.END_HEADERS) {
      const fields = decoder.decode(Buffer.concat(pending!.parts)).map((h) => [h.name.toString('latin1'), h.value.toString('latin1')]);
      blocks.push({ stream: pending!.stream, flags: pending!.flags, fields });
      pending = null;
    }
  }
  return { blocks, frames };
}

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
};

const request = (authority: string | null, extra: FieldSpec[] = []): FieldSpec[] => [
  { name: ':method', value: 'POST', as: 'indexed' },
  { name: ':scheme', value: 'http', as: 'indexed' },
  { name: ':path', value: '/runtime.v1.RuntimeService/Version' },
  ...(authority === null ? [] : [{ name: ':authority', value: authority }]),
  { name: 'content-type', value: 'application/grpc' },
  { name: 'te', value: 'trailers', as: 'without' as const },
  ...extra,
];

describe('HTTP/2 request filter', () => {
  it("rewrites crictl 1.26's socket-path authority and keeps every other field and frame", () => {
    const out = run(newFilter(), CRICTL_VERSION);
    const sent = serverView(CRICTL_VERSION);
    const got = serverView(out);
    expect(sent.blocks.map((b) => b.stream)).toEqual([1, 3]);
    expect(sent.blocks[0]!.fields).toContainEqual([':authority', '/tmp/i13/cap.sock']);
    // Stream 3 is the retry: the same list (but its deadline), rebuilt from crictl's dynamic table.
    const noTimeout = (b: Block) => b.fields.filter(([n]) => n !== 'grpc-timeout');
    expect(noTimeout(sent.blocks[1]!)).toEqual(noTimeout(sent.blocks[0]!));
    for (const [i, b] of got.blocks.entries()) {
      expect(b.stream).toBe(sent.blocks[i]!.stream);
      expect(b.fields).toEqual(sent.blocks[i]!.fields.map(([n, v]) => [n, n === ':authority' ? 'localhost' : v]));
      expect(b.fields.find(([n]) => n === 'user-agent')?.[1]).toMatch(/^grpc-go\/1\.51/);
    }
    const others = (fs: ReturnType<typeof parseFrames>) => fs.filter((f) => f.type !== FrameType.HEADERS).map((f) => [f.type, f.flags, f.stream, f.payload.toString('hex')]);
    expect(others(got.frames)).toEqual(others(sent.frames));
    expect(out.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)).toBe(true);
  });

  it('gives the same bytes whatever the read boundaries', () => {
    const whole = run(newFilter(), CRICTL_VERSION);
    expect(run(newFilter(), CRICTL_VERSION, [1]).equals(whole)).toBe(true);
    for (const sizes of [[2], [3, 7], [9], [10], [24, 9, 1], [25, 8, 5, 100], [50, 1, 1, 13]])
      expect(run(newFilter(), CRICTL_VERSION, sizes).equals(whole), String(sizes)).toBe(true);
  });

  it('hands frames other than header blocks on as slices of the input, without waiting for the rest of a frame', () => {
    const f = newFilter();
    f.push(clientOpening());
    const small = Buffer.concat([frame(FrameType.PING, 0, 0, Buffer.alloc(8, 7)), frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from([0, 1, 0, 0])), frame(FrameType.RST_STREAM, 0, 5, Buffer.from([0, 0, 0, 8])), frame(FrameType.GOAWAY, 0, 0, Buffer.alloc(8))]);
    const out = f.push(small);
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(small);
    // A 1 MiB DATA frame arriving in 64 KiB reads: each read comes out at once, as itself.
    const big = frame(FrameType.DATA, 0, 1, Buffer.alloc(1 << 20, 1));
    for (let i = 0; i < big.length; i += 65536) {
      const piece = big.subarray(i, i + 65536);
      const o = f.push(piece);
      expect(o).toHaveLength(1);
      expect(o[0]!.buffer).toBe(big.buffer);
      expect(o[0]!.byteOffset).toBe(piece.byteOffset);
    }
  });

  it('replaces authorities nghttp2 refuses, keeps valid ones, and adds one when missing', () => {
    const cases: Array<[string | null, string]> = [
      ['/run/mesos-cri/mesos-cri.sock', 'localhost'],
      ['unix:/run/mesos-cri/mesos-cri.sock', 'localhost'],
      ['unix:///run/mesos-cri/mesos-cri.sock', 'localhost'],
      ['%2Frun%2Fmesos-cri%2Fmesos-cri.sock', '%2Frun%2Fmesos-cri%2Fmesos-cri.sock'],
      ['localhost', 'localhost'],
      ['[::1]:10010', '[::1]:10010'],
      ['a b', 'localhost'],
      [null, 'localhost'],
    ];
    for (const [authority, want] of cases) {
      const enc = new FixtureEncoder();
      const input = Buffer.concat([clientOpening(), headersFrames(1, enc.encode(request(authority, [{ name: 'host', value: authority ?? 'localhost' }]))), grpcData(1, Buffer.alloc(0))]);
      const [b] = serverView(run(newFilter(), input)).blocks;
      expect(b!.fields.filter(([n]) => n === ':authority'), String(authority)).toEqual([[':authority', want]]);
      expect(b!.fields.find(([n]) => n === 'host')?.[1]).toBe(want);
      // Pseudo-header fields still come first.
      const firstRegular = b!.fields.findIndex(([n]) => !n.startsWith(':'));
      expect(b!.fields.slice(firstRegular).every(([n]) => !n.startsWith(':'))).toBe(true);
    }
  });

  it('follows one dynamic table over 1000 requests with Huffman, evictions and table size updates', () => {
    const enc = new FixtureEncoder();
    const f = newFilter();
    const server = new HpackDecoder({ maxListSize: 1 << 20 });
    const out = [run(f, clientOpening())];
    for (let i = 0; i < 1000; i++) {
      const stream = 2 * i + 1;
      const fields = request('/run/mesos-cri/mesos-cri.sock', [
        { name: 'user-agent', value: 'grpc-go/1.51.0', as: 'indexed', huffman: true },
        { name: 'x-request-id', value: `req-${i}-${'x'.repeat(i % 97)}`, huffman: i % 2 === 0 },
        { name: 'grpc-timeout', value: `${i}m`, as: i % 3 ? 'incremental' : 'never' },
      ]).map((s) => (s.name === ':path' || s.name === ':authority' ? { ...s, as: 'indexed' as const, huffman: true } : s));
      const updates = i === 300 ? [0, 256] : i === 600 ? [4096] : [];
      const chunk = Buffer.concat([headersFrames(stream, enc.encode(fields, updates)), grpcData(stream, Buffer.from([i & 0xff]))]);
      out.push(run(f, chunk, [i % 13 + 1]));
    }
    const { blocks } = serverView(Buffer.concat(out), server);
    expect(blocks).toHaveLength(1000);
    blocks.forEach((b, i) => {
      expect(b.fields.find(([n]) => n === ':authority')?.[1]).toBe('localhost');
      expect(b.fields.find(([n]) => n === 'x-request-id')?.[1]).toBe(`req-${i}-${'x'.repeat(i % 97)}`);
      expect(b.fields.find(([n]) => n === 'grpc-timeout')?.[1]).toBe(`${i}m`);
    });
    // The server's own table is never used: everything it got was a literal without indexing.
    expect(server.tableEntries).toBe(0);
    expect(f.rewritten).toBe(1000);
  });

  it('joins a header block split over CONTINUATION frames, drops padding and keeps priority and END_STREAM', () => {
    const enc = new FixtureEncoder();
    const block = enc.encode(request('/s.sock', [{ name: 'x-long', value: 'y'.repeat(300), huffman: true }]));
    const input = Buffer.concat([
      clientOpening(),
      headersFrames(1, block, { fragment: 7, pad: 200, priority: { dependsOn: 0, exclusive: true, weight: 200 }, endStream: true }),
    ]);
    expect(parseFrames(input.subarray(24)).filter((x) => x.type === FrameType.CONTINUATION).length).toBeGreaterThan(40);
    for (const sizes of [[input.length], [1], [5, 11]]) {
      const out = run(newFilter(), input, sizes);
      const { blocks, frames } = serverView(out);
      const headers = frames.filter((x) => x.type === FrameType.HEADERS);
      expect(headers).toHaveLength(1);
      expect(frames.some((x) => x.type === FrameType.CONTINUATION)).toBe(false);
      expect(headers[0]!.flags & Flag.PADDED).toBe(0);
      expect(headers[0]!.flags & (Flag.PRIORITY | Flag.END_STREAM | Flag.END_HEADERS)).toBe(Flag.PRIORITY | Flag.END_STREAM | Flag.END_HEADERS);
      expect(headers[0]!.payload.subarray(0, 5).toString('hex')).toBe('80000000c8');
      expect(blocks[0]!.fields.find(([n]) => n === 'x-long')?.[1]).toBe('y'.repeat(300));
      expect(blocks[0]!.fields.find(([n]) => n === ':authority')?.[1]).toBe('localhost');
    }
  });

  it('re-splits a block larger than 16 KiB into CONTINUATION frames', () => {
    const enc = new FixtureEncoder();
    const fields = request('/s.sock', Array.from({ length: 40 }, (_, i) => ({ name: `x-h${i}`, value: 'z'.repeat(1000), as: 'without' as const, huffman: true })));
    const input = Buffer.concat([clientOpening(), headersFrames(1, enc.encode(fields), { fragment: 16384 })]);
    const { blocks, frames } = serverView(run(newFilter(), input));
    expect(frames.filter((x) => x.type === FrameType.CONTINUATION).length).toBeGreaterThanOrEqual(2);
    expect(frames.every((x) => x.payload.length <= 16384)).toBe(true);
    expect(blocks[0]!.fields).toHaveLength(fields.length);
    expect(blocks[0]!.fields.find(([n]) => n === 'x-h39')?.[1]).toBe('z'.repeat(1000));
  });

  it('leaves trailers and blocks without :method as they are', () => {
    const enc = new FixtureEncoder();
    const input = Buffer.concat([
      clientOpening(),
      headersFrames(1, enc.encode(request('/s.sock'))),
      grpcData(1, Buffer.from('hi'), false),
      headersFrames(1, enc.encode([{ name: 'grpc-status', value: '0' }, { name: 'x-authority-lookalike', value: '/not/touched' }]), { endStream: true }),
    ]);
    const { blocks } = serverView(run(newFilter(), input));
    expect(blocks[1]!.fields).toEqual([['grpc-status', '0'], ['x-authority-lookalike', '/not/touched']]);
    expect(blocks[1]!.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
  });

  it('accepts a dynamic table as large as the server advertised, read off its SETTINGS however they are split', () => {
    const settings = frame(FrameType.SETTINGS, 0, 0, Buffer.from([0, 1, 0, 0, 0x40, 0, 0, 5, 0, 0, 0x80, 0]));
    const enc = new FixtureEncoder();
    const block = enc.encode(request('/s.sock'), [16384]);
    const input = Buffer.concat([clientOpening(), headersFrames(1, block)]);
    expect(isCriError(thrown(() => run(newFilter(), input)), 'InvalidArgument')).toBe(true);
    const f = newFilter();
    const watch = new SettingsWatch(f);
    const serverOut = Buffer.concat([settings, frame(FrameType.SETTINGS, Flag.ACK, 0), frame(FrameType.DATA, 0, 1, Buffer.alloc(100))]);
    for (let i = 0; i < serverOut.length; i += 4) watch.observe(serverOut.subarray(i, i + 4));
    expect(serverView(run(f, input)).blocks[0]!.fields.find(([n]) => n === ':authority')?.[1]).toBe('localhost');
    // SETTINGS_MAX_FRAME_SIZE 32768 was read too: a 20000-byte HEADERS frame is now legal.
    const bigBlock = new FixtureEncoder().encode(request('/s.sock', [{ name: 'x-big', value: 'q'.repeat(20000), as: 'without' }]));
    expect(() => run(f, headersFrames(3, bigBlock))).not.toThrow();
    expect(String(thrown(() => run(newFilter(), Buffer.concat([clientOpening(), headersFrames(1, bigBlock)]))))).toContain('exceeds the maximum frame size');
  });

  it('refuses framing it cannot pass on', () => {
    const enc = new FixtureEncoder();
    const block = enc.encode(request('/s.sock'));
    const split = headersFrames(1, block, { fragment: 10 });
    const firstLen = 9 + 10;
    const cases: Array<[string, Buffer, string]> = [
      ['DATA inside a header block', Buffer.concat([split.subarray(0, firstLen), grpcData(1, Buffer.alloc(1)), split.subarray(firstLen)]), 'inside the header block'],
      ['CONTINUATION for another stream', Buffer.concat([split.subarray(0, firstLen), frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, block.subarray(10))]), 'inside the header block'],
      ['a stray CONTINUATION', frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block), 'outside a header block'],
      ['PUSH_PROMISE from a client', frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.concat([Buffer.from([0, 0, 0, 2]), block])), 'PUSH_PROMISE'],
      ['padding longer than the payload', frame(FrameType.HEADERS, Flag.PADDED | Flag.END_HEADERS, 1, Buffer.from([9, 0x82])), 'padding'],
      ['bad HPACK', frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x80])), 'index 0'],
      ['a header block over the cap', Buffer.concat(Array.from({ length: 80 }, (_, i) => (i === 0 ? frame(FrameType.HEADERS, 0, 1, Buffer.alloc(16000, 0x82)) : frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16000, 0x82))))), 'larger than'],
    ];
    for (const [what, bytes, message] of cases) {
      const err = thrown(() => run(newFilter(), Buffer.concat([clientOpening(), bytes])));
      expect(isCriError(err, 'InvalidArgument'), what).toBe(true);
      expect(String(err), what).toContain(message);
    }
  });

  it('steps aside for bytes that are not an HTTP/2 preface', () => {
    const f = newFilter();
    const req = Buffer.from('GET / HTTP/1.1\r\nHost: /x\r\n\r\n');
    expect(f.push(req)).toEqual([req]);
    const more = Buffer.from([0x80, 0, 0, 0]);
    expect(f.push(more)).toEqual([more]);
  });
});
