import { describe, expect, it } from 'vitest';
import { isCriError } from '../../common/errors';
import { HpackDecoder, type HeaderField } from './hpack-decoder';
import { FixtureEncoder } from './testing';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const text = (fields: HeaderField[]): string[][] => fields.map((f) => [f.name.toString('latin1'), f.value.toString('latin1')]);
const decoder = (): HpackDecoder => new HpackDecoder({ maxListSize: 1 << 20 });
const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
};

// Header blocks and decoded lists of RFC 7541 appendix C.
const REQUESTS = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSES = [
  [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', 'https://www.example.com']],
  [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', 'https://www.example.com']],
  [[':status', '200'], ['cache-control', 'private'], ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'], ['location', 'https://www.example.com'], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]],
];
/** A size update to 256 (5-bit prefix: 31, then 225): the examples' SETTINGS_HEADER_TABLE_SIZE. */
const TO_256 = '3fe101';

describe('HPACK decoder', () => {
  it('decodes the single representations of appendix C.2', () => {
    const d = decoder();
    expect(text(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')))).toEqual([['custom-key', 'custom-header']]);
    expect(d.tableSize).toBe(55);
    expect(text(d.decode(hex('040c 2f73 616d 706c 652f 7061 7468')))).toEqual([[':path', '/sample/path']]);
    const never = d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'));
    expect(text(never)).toEqual([['password', 'secret']]);
    expect(never[0]!.neverIndex).toBe(true);
    expect(text(d.decode(hex('82')))).toEqual([[':method', 'GET']]);
    expect(d.tableSize).toBe(55);
  });

  for (const [name, blocks] of [
    ['raw literals (C.3)', ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65']],
    ['Huffman literals (C.4)', ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf']],
  ] as const) {
    it(`decodes three requests sharing a dynamic table, ${name}`, () => {
      const d = decoder();
      blocks.forEach((b, i) => expect(text(d.decode(hex(b)))).toEqual(REQUESTS[i]));
      expect(d.tableSize).toBe(164);
      expect(d.tableEntries).toBe(3);
    });
  }

  for (const [name, blocks] of [
    ['raw literals (C.5)', [
      TO_256 + '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '4803 3330 37c1 c0bf',
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
    ]],
    ['Huffman literals (C.6)', [
      TO_256 + '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
      '4883 640e ffc1 c0bf',
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ]],
  ] as const) {
    it(`evicts as three responses fill a 256-byte table, ${name}`, () => {
      const d = decoder();
      const sizes = [222, 222, 215];
      blocks.forEach((b, i) => {
        expect(text(d.decode(hex(b)))).toEqual(RESPONSES[i]);
        expect(d.tableSize).toBe(sizes[i]);
      });
      expect(d.tableEntries).toBe(3);
    });
  }

  it('applies table size updates: 0 empties the table, larger than advertised is refused until allowed', () => {
    const d = decoder();
    d.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'));
    expect(d.tableEntries).toBe(1);
    d.decode(hex('20'));
    expect(d.tableEntries).toBe(0);
    expect(isCriError(thrown(() => d.decode(hex('be'))), 'InvalidArgument')).toBe(true);
    const enc = new FixtureEncoder();
    const over = enc.encode([], [8192]);
    expect(String(thrown(() => decoder().decode(over)))).toContain('exceeds the advertised 4096');
    const d2 = decoder();
    d2.allowTableSize(8192);
    d2.decode(over);
    // Two updates in one block (lower then raise, section 4.2) are fine; one after a field is not.
    d2.decode(new FixtureEncoder().encode([{ name: 'a', value: 'b' }], [0, 4096]));
    expect(d2.tableEntries).toBe(1);
    expect(String(thrown(() => d2.decode(hex('82 20'))))).toContain('after a header field');
  });

  it('refuses index 0, indexes past the table, truncated input and huge integers', () => {
    for (const b of ['80', 'ff00', 'c0', '40', '4001', '0f', '820f', '41ff', '3fffffffff7f', '4085']) {
      expect(isCriError(thrown(() => decoder().decode(hex(b))), 'InvalidArgument'), b).toBe(true);
    }
  });

  it('stops at the header list size cap (an indexed 4 KiB entry repeated)', () => {
    const d = new HpackDecoder({ maxListSize: 64 * 1024 });
    const enc = new FixtureEncoder();
    const big = enc.encode([{ name: 'x-big', value: 'v'.repeat(4000) }]);
    d.decode(big);
    const bomb = Buffer.concat([Buffer.alloc(0), ...Array.from({ length: 100 }, () => enc.encode([{ name: 'x-big', value: 'v'.repeat(4000), as: 'indexed' }]))]);
    expect(bomb.length).toBe(100);
    expect(String(thrown(() => d.decode(bomb)))).toContain('header list larger than 65536');
  });

  it('keeps bytes that are not UTF-8 exact', () => {
    const value = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41]);
    for (const huffman of [false, true]) {
      const out = decoder().decode(new FixtureEncoder().encode([{ name: 'x-bin', value, huffman }]));
      expect(out[0]!.value.equals(value)).toBe(true);
    }
  });
});
