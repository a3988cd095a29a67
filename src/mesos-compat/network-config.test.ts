import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadNetworkConfig, parsePodCidrs, saveNetworkConfig } from './network-config';
import { networkConfigCheckpoint } from './paths';

describe('pod CIDRs from UpdateRuntimeConfig', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses one CIDR or a dual-stack pair, trimmed', () => {
    expect(parsePodCidrs('10.244.1.0/24')).toEqual(['10.244.1.0/24']);
    expect(parsePodCidrs(' 10.244.1.0/24 , FD00:10:244:1::/64 ')).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64']);
    expect(parsePodCidrs('')).toEqual([]);
  });

  it('refuses what is not a CIDR, with the value in the message', () => {
    for (const bad of ['10.244.1.0', '10.244.1.0/33', 'fd00::/129', 'host/24', '10.0.0.0/8/1', '10.0.0.0/8,10.1.0.0/16']) {
      expect(() => parsePodCidrs(bad)).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    }
  });

  it('keeps the CIDRs across a restart and ignores a torn file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcri-netcfg-'));
    const roots = { workDir: dir, runDir: join(dir, 'run') };
    expect((await loadNetworkConfig(roots)).podCidrs).toEqual([]);
    await saveNetworkConfig(roots, { podCidrs: ['10.9.0.0/16'] });
    expect((await loadNetworkConfig(roots)).podCidrs).toEqual(['10.9.0.0/16']);
    mkdirSync(join(dir, 'containerizer'), { recursive: true });
    writeFileSync(networkConfigCheckpoint(roots), '{"version":1,"value":{"podCidrs":["not a cidr"]}}');
    expect((await loadNetworkConfig(roots)).podCidrs).toEqual([]);
  });
});
