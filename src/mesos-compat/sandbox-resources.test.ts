import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Resources } from './launch-config';
import { applyLimitsV1, applyLimitsV2, checkUnified } from './isolators/cgroup-limits';
import { podLimits as podLimitsWith, type PodResources } from './sandbox-resources';

const podLimits = (p: PodResources) => podLimitsWith(p, { hugetlb: true });

const res = (r: Partial<Resources>): Resources => ({
  cpuPeriod: 0n, cpuQuota: 0n, cpuShares: 0n, memoryLimitBytes: 0n, memorySwapLimitBytes: 0n, oomScoreAdj: 0,
  cpusetCpus: '', cpusetMems: '', hugepageLimits: [], unified: {}, ...r,
});

describe('pod limits from UpdatePodSandboxResources', () => {
  it('adds the overhead to memory, CPU quota (at the pod period) and shares', () => {
    const l = podLimits({
      resources: res({ memoryLimitBytes: 128n << 20n, cpuPeriod: 100_000n, cpuQuota: 50_000n, cpuShares: 512n, cpusetCpus: '0' }),
      overhead: res({ memoryLimitBytes: 16n << 20n, cpuPeriod: 50_000n, cpuQuota: 5_000n, cpuShares: 64n }),
    });
    expect(l.memory).toEqual({ limit: 144 << 20, swap: 144 << 20 });
    expect(l.cpu).toEqual({ period: 100_000, quota: 60_000, shares: 576, cpus: '0' });
  });

  it('keeps no limit as no limit, and takes the resources alone without an overhead', () => {
    expect(podLimits({ overhead: res({ memoryLimitBytes: 1n << 20n }) })).toEqual({});
    expect(podLimits({ resources: res({ cpuShares: 2n }) })).toEqual({ cpu: { shares: 2 } });
  });

  it('validates both parts as UpdateContainerResources does', () => {
    expect(() => podLimits({ resources: res({ memoryLimitBytes: -1n }) })).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    expect(() => podLimits({ resources: res({ memoryLimitBytes: 64n << 20n, memorySwapLimitBytes: 1n << 20n }) })).toThrow(/memory_swap_limit_in_bytes/);
    expect(() => podLimits({ overhead: res({ cpuShares: -5n }) })).toThrow(/pod overhead/);
    expect(() => podLimits({ resources: res({ hugepageLimits: [{ pageSize: '2M/../x', limit: 1n }] }) })).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
  });

  it('refuses unified keys on cgroup v1 and keys that are not interface files', () => {
    expect(() => checkUnified({ 'memory.high': '1' }, false)).toThrow(/cgroup v2/);
    for (const k of ['../memory.max', 'cgroup.procs', 'memory.max/../../x', 'memory', '/etc/passwd']) {
      expect(() => checkUnified({ [k]: '1' }, true), k).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    }
    expect(() => checkUnified({ 'memory.high': '1' }, true)).not.toThrow();
  });
});

describe('writing limits into a pod cgroup', () => {
  let root = '';
  afterEach(() => rmSync(root, { recursive: true, force: true }));
  const files = (entries: Record<string, string>): void => {
    for (const [f, v] of Object.entries(entries)) {
      mkdirSync(join(root, f, '..'), { recursive: true });
      writeFileSync(join(root, f), v);
    }
  };
  const read = (f: string): string => readFileSync(join(root, f), 'utf8');

  it('writes v1 controller files, memsw before the limit when raising', () => {
    root = mkdtempSync(join(tmpdir(), 'mcri-lim1-'));
    files({
      'cpu/p/cpu.cfs_period_us': '100000',
      'cpu/p/cpu.cfs_quota_us': '-1',
      'cpu/p/cpu.shares': '1024',
      'memory/p/memory.limit_in_bytes': '1000',
      'memory/p/memory.memsw.limit_in_bytes': '1000',
    });
    applyLimitsV1(root, '/p', { cpu: { period: 50000, quota: 25000, shares: 256 }, memory: { limit: 4096, swap: 4096 } });
    expect([read('cpu/p/cpu.cfs_period_us'), read('cpu/p/cpu.cfs_quota_us'), read('cpu/p/cpu.shares')]).toEqual(['50000', '25000', '256']);
    expect([read('memory/p/memory.limit_in_bytes'), read('memory/p/memory.memsw.limit_in_bytes')]).toEqual(['4096', '4096']);
  });

  it('never creates a file: a missing controller is FailedPrecondition', () => {
    root = mkdtempSync(join(tmpdir(), 'mcri-lim2-'));
    files({ 'cpu/p/cpu.shares': '1024' });
    expect(() => applyLimitsV1(root, '/p', { hugepageLimits: [{ pageSize: '2MB', limit: 1 }] })).toThrow(expect.objectContaining({ code: 'FailedPrecondition' }));
    expect(() => applyLimitsV2(root, '/p', { unified: { 'memory.high': '1' } })).toThrow(expect.objectContaining({ code: 'FailedPrecondition' }));
  });

  it('writes v2 files: cpu.max, weight from shares, swap apart from memory', () => {
    root = mkdtempSync(join(tmpdir(), 'mcri-lim3-'));
    files({ 'p/cpu.max': 'max 100000', 'p/cpu.weight': '100', 'p/memory.max': 'max', 'p/memory.swap.max': 'max', 'p/memory.high': 'max' });
    applyLimitsV2(root, '/p', { cpu: { quota: 20000, shares: 1024 }, memory: { limit: 1 << 20, swap: 2 << 20 }, unified: { 'memory.high': '900000' } });
    expect(read('p/cpu.max')).toBe('20000 100000');
    expect(read('p/cpu.weight')).toBe('39');
    expect(read('p/memory.max')).toBe(String(1 << 20));
    expect(read('p/memory.swap.max')).toBe(String(1 << 20));
    expect(read('p/memory.high')).toBe('900000');
  });
});
