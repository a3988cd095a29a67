import { describe, expect, it } from 'vitest';
import { decode, encode } from './codec';

describe('checkpoint codec', () => {
  it('round-trips bigints through JSON and drops undefined fields', () => {
    const v = { a: 1n << 62n, b: [2n, 'x'], c: { d: -5n }, e: undefined, f: null };
    const text = JSON.stringify(encode(v));
    expect(text).not.toContain('"e"');
    expect(decode(JSON.parse(text))).toEqual({ a: 1n << 62n, b: [2n, 'x'], c: { d: -5n }, f: null });
  });
});
