import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostLocalStores, readLeases } from './leases';

describe('host-local leases', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cni-leases-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the store dirs of host-local IPAM plugins', () => {
    expect(
      hostLocalStores({
        name: 'net',
        cniVersion: '1.0.0',
        disableCheck: false,
        source: '',
        plugins: [{ type: 'bridge', ipam: { type: 'host-local', dataDir: '/d' } }, { type: 'ptp', ipam: { type: 'host-local' } }, { type: 'portmap' }],
      }),
    ).toEqual(['/d/net', '/var/lib/cni/networks/net']);
  });

  it('reads leases and ignores bookkeeping files', async () => {
    const store = join(dir, 'net');
    mkdirSync(store, { recursive: true });
    writeFileSync(join(store, '10.0.0.2'), 'sb1\r\neth0');
    writeFileSync(join(store, 'fd00::3'), 'sb2\r\nnet1');
    writeFileSync(join(store, '10.0.0.4'), 'old-format-id');
    writeFileSync(join(store, 'last_reserved_ip.0'), '10.0.0.4');
    writeFileSync(join(store, 'lock'), '');
    const leases = (await readLeases(store)).sort((a, b) => a.ip.localeCompare(b.ip));
    expect(leases).toEqual([
      { ip: '10.0.0.2', containerId: 'sb1', ifName: 'eth0' },
      { ip: '10.0.0.4', containerId: 'old-format-id', ifName: 'eth0' },
      { ip: 'fd00::3', containerId: 'sb2', ifName: 'net1' },
    ]);
    expect(await readLeases(join(dir, 'missing'))).toEqual([]);
  });
});
