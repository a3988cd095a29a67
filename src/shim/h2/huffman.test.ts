import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isCriError } from '../../common/errors';
import { huffmanDecode, huffmanEncode } from './huffman';
import { HUFFMAN_CODES } from './huffman-table';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('HPACK Huffman code', () => {
  it('is a complete prefix code over 256 symbols and EOS', () => {
    expect(HUFFMAN_CODES).toHaveLength(257);
    // Kraft's sum is exactly 1 for a complete code; any typo in the table breaks it.
    const sum = HUFFMAN_CODES.reduce((s, [, bits]) => s + 2 ** -bits, 0);
    expect(sum).toBe(1);
    expect(HUFFMAN_CODES[256]).toEqual([0x3fffffff, 30]);
    for (const [code, bits] of HUFFMAN_CODES) expect(code < 2 ** bits).toBe(true);
  });

  it('decodes the strings of RFC 7541 appendix C.4 and C.6', () => {
    const cases: Array<[string, string]> = [
      ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
      ['a8eb 1064 9cbf', 'no-cache'],
      ['25a8 49e9 5ba9 7d7f', 'custom-key'],
      ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
      ['6402', '302'],
      ['aec3 771a 4b', 'private'],
      ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
      ['9bd9 ab', 'gzip'],
      ['94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
    ];
    for (const [coded, text] of cases) {
      expect(huffmanDecode(hex(coded)).toString('latin1')).toBe(text);
      expect(huffmanEncode(Buffer.from(text, 'latin1')).toString('hex')).toBe(coded.replace(/\s+/g, ''));
    }
  });

  it('round-trips every byte value and random strings', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(huffmanDecode(huffmanEncode(all)).equals(all)).toBe(true);
    for (let i = 0; i < 200; i++) {
      const s = randomBytes(i);
      expect(huffmanDecode(huffmanEncode(s)).equals(s)).toBe(true);
    }
    expect(huffmanDecode(Buffer.alloc(0))).toHaveLength(0);
  });

  it('refuses EOS, padding longer than 7 bits and padding that is not all ones', () => {
    const bad = (b: Buffer): unknown => {
      try {
        huffmanDecode(b);
        return undefined;
      } catch (err) {
        return err;
      }
    };
    // EOS (30 ones) inside a string.
    expect(isCriError(bad(hex('ffff ffff')), 'InvalidArgument')).toBe(true);
    // "a" is 00011 (5 bits); a whole byte of ones after it is 8 bits of padding.
    expect(bad(hex('1f ff'))).toBeDefined();
    expect(huffmanDecode(hex('1f')).toString()).toBe('a');
    // "a" then zero bits as padding.
    expect(bad(hex('18'))).toBeDefined();
    // A lone byte of ones: 8 bits of padding and no symbol.
    expect(bad(hex('ff'))).toBeDefined();
  });
});
