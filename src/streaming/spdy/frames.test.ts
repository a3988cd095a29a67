import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SPDY3_DICTIONARY } from './dictionary';
import { FLAG_FIN, FrameParser, FrameType, decodeNameValues, encodeData, encodeGoAway, encodeNameValues, encodeRst } from './frames';
import { HeaderCodec } from './header-codec';

describe('SPDY/3 dictionary', () => {
  it('matches the draft-3 constant byte for byte', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    // sha256 of spdy-transport's `dictionary[3]` (the SPDY/3 draft's bytes).
    expect(createHash('sha256').update(SPDY3_DICTIONARY).digest('hex')).toBe('51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02');
  });
});

describe('frames', () => {
  it('parses frames split across arbitrary chunk boundaries', () => {
    const wire = Buffer.concat([encodeData(1, 0, Buffer.from('hello')), encodeRst(3, 5), encodeData(5, FLAG_FIN, Buffer.alloc(0)), encodeGoAway(7, 0)]);
    const parser = new FrameParser();
    const frames = [];
    for (let i = 0; i < wire.length; i += 3) frames.push(...parser.push(wire.subarray(i, i + 3)));
    expect(frames).toHaveLength(4);
    expect(frames[0]).toMatchObject({ kind: 'data', streamId: 1, flags: 0 });
    expect(frames[0]!.payload.toString()).toBe('hello');
    expect(frames[1]).toMatchObject({ kind: 'control', type: FrameType.RstStream, version: 3 });
    expect(frames[1]!.payload.readUInt32BE(4)).toBe(5);
    expect(frames[2]).toMatchObject({ kind: 'data', streamId: 5, flags: FLAG_FIN });
    expect(frames[3]).toMatchObject({ kind: 'control', type: FrameType.GoAway });
    expect(frames[3]!.payload.length).toBe(8);
  });

  it('writes control frame headers as 80 03', () => {
    const f = encodeRst(1, 1);
    expect([...f.subarray(0, 4)]).toEqual([0x80, 0x03, 0x00, 0x03]);
    expect(f.readUInt32BE(4) & 0xffffff).toBe(8);
  });

  it('round-trips name/value blocks with lowercase names', () => {
    const block = encodeNameValues(new Map([['StreamType', 'data'], ['port', '8080']]));
    expect(decodeNameValues(block)).toEqual(new Map([['streamtype', 'data'], ['port', '8080']]));
  });
});

describe('HeaderCodec', () => {
  it('keeps one compression context across blocks, in order', async () => {
    const a = new HeaderCodec();
    const b = new HeaderCodec();
    const blocks = await Promise.all([1, 2, 3].map((i) => a.encode(new Map([['streamtype', 'stdout'], ['requestid', String(i)]]))));
    // Later blocks reuse earlier ones: the third is smaller than the first.
    expect(blocks[2]!.length).toBeLessThan(blocks[0]!.length);
    for (const [i, blk] of blocks.entries()) {
      expect(await b.decode(blk)).toEqual(new Map([['streamtype', 'stdout'], ['requestid', String(i + 1)]]));
    }
    a.close();
    b.close();
  });
});

describe('bounds a tokenless client cannot push past', () => {
  it('refuses a frame over 1 MiB before buffering it', () => {
    const parser = new FrameParser();
    const head = Buffer.alloc(8);
    head.writeUInt32BE(1, 0);
    head.writeUInt32BE((1 << 20) + 1, 4);
    expect(() => parser.push(head)).toThrow(/too large/);
    const ok = Buffer.alloc(8);
    ok.writeUInt32BE(1, 0);
    ok.writeUInt32BE(1 << 20, 4);
    expect(new FrameParser().push(ok)).toEqual([]); // waits for its payload
  });

  it('stops inflating a header block at 1 MiB: a zip bomb costs little', async () => {
    const { deflateSync, constants } = await import('node:zlib');
    // 64 MiB of zeros as one SPDY header block (well under 1 MiB compressed)
    const bomb = deflateSync(Buffer.alloc(64 << 20), { dictionary: SPDY3_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH });
    expect(bomb.length).toBeLessThan(1 << 20);
    const codec = new HeaderCodec();
    const before = process.memoryUsage().arrayBuffers;
    const t = Date.now();
    await expect(codec.decode(bomb)).rejects.toThrow(/block too large/);
    expect(Date.now() - t).toBeLessThan(2000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
    // the context is dead for good: later blocks fail too
    await expect(codec.decode(Buffer.alloc(4))).rejects.toThrow();
    codec.close();
  });
});
