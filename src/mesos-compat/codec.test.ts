import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decode, encode, loadRecord, saveRecord } from './codec';

describe('checkpoint codec', () => {
  it('round-trips bigints through JSON and drops undefined fields', () => {
    const v = { a: 1n << 62n, b: [2n, 'x'], c: { d: -5n }, e: undefined, f: null };
    const text = JSON.stringify(encode(v));
    expect(text).not.toContain('"e"');
    expect(decode(JSON.parse(text))).toEqual({ a: 1n << 62n, b: [2n, 'x'], c: { d: -5n }, f: null });
  });

  it('saves records as encode would and loads the last state back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codec-'));
    try {
      const path = join(dir, 'rec.json');
      const v = { a: 1n << 62n, b: [2n, 'x'], c: { d: -5n }, e: undefined, f: null };
      await saveRecord(path, { ...v, a: 0n });
      await saveRecord(path, v);
      const last = readFileSync(path, 'utf8').split('\n').pop()!;
      expect(JSON.parse(last)).toEqual({ version: 1, value: encode(v) });
      expect(await loadRecord(path)).toEqual({ a: 1n << 62n, b: [2n, 'x'], c: { d: -5n }, f: null });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
