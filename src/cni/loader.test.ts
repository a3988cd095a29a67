import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setLogSink } from '../common/log';
import { ConfigLoader } from './loader';

const conflist = (name: string, version = '1.0.0'): string => JSON.stringify({ cniVersion: version, name, plugins: [{ type: 'bridge' }] });

describe('ConfigLoader', () => {
  let dir: string;
  const lines: string[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cni-loader-'));
    lines.length = 0;
    setLogSink((l) => lines.push(l));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    setLogSink((l) => process.stderr.write(`${l}\n`));
  });

  it('reports a missing dir', () => {
    const loaded = new ConfigLoader(join(dir, 'nope')).current();
    expect(loaded.primary).toBeUndefined();
    expect(loaded.dirError).toMatch(/ENOENT/);
  });

  it('picks the first valid file by name, skipping invalid ones with a logged reason', () => {
    writeFileSync(join(dir, '05-bad.conflist'), conflist('bad', '0.1.0'));
    writeFileSync(join(dir, '20-b.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'b', type: 'bridge' }));
    writeFileSync(join(dir, '10-a.conflist'), conflist('a'));
    writeFileSync(join(dir, '30-c.json'), conflist('c'));
    writeFileSync(join(dir, '00-ignored.txt'), conflist('txt'));
    const loaded = new ConfigLoader(dir).current();
    expect(loaded.primary?.name).toBe('a');
    expect([...loaded.byName.keys()]).toEqual(['a', 'b', 'c']);
    expect(loaded.skipped).toEqual([{ file: join(dir, '05-bad.conflist'), reason: expect.stringContaining('unsupported cniVersion') }]);
    expect(lines.some((l) => l.includes('skipping invalid CNI network config') && l.includes('05-bad.conflist'))).toBe(true);
  });

  it('picks up a config added or fixed later, and only re-parses on change', () => {
    const loader = new ConfigLoader(dir);
    expect(loader.current().primary).toBeUndefined();
    writeFileSync(join(dir, '10-a.conflist'), '{');
    expect(loader.current().primary).toBeUndefined();
    const first = loader.current();
    expect(loader.current()).toBe(first);
    writeFileSync(join(dir, '10-a.conflist'), conflist('fixed'));
    // Same-second writes may keep the mtime; the size differs here, and a
    // bumped mtime covers a same-size edit.
    utimesSync(join(dir, '10-a.conflist'), new Date(), new Date(Date.now() + 5000));
    expect(loader.current().primary?.name).toBe('fixed');
    rmSync(join(dir, '10-a.conflist'));
    expect(loader.current().primary).toBeUndefined();
  });
});
