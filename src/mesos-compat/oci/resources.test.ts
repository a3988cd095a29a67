import { describe, expect, it } from 'vitest';
import type { Resources } from '../launch-config';
import { readFileSync } from 'node:fs';
import { background } from '../../common/ctx';
import { buildResources, clampOomScoreAdj, ownOomScoreAdj } from './resources';

const ON = { hugetlb: true };

const none: Resources = {
  cpuPeriod: 0n, cpuQuota: 0n, cpuShares: 0n, memoryLimitBytes: 0n, memorySwapLimitBytes: 0n, oomScoreAdj: 0,
  cpusetCpus: '', cpusetMems: '', hugepageLimits: [], unified: {},
};

describe('buildResources', () => {
  it('leaves everything out when nothing is set', () => {
    expect(buildResources(undefined, ON)).toEqual({});
    expect(buildResources(none, ON)).toEqual({});
  });

  it('translates cpu, memory, hugepages and unified', () => {
    const r = buildResources({
      ...none,
      cpuShares: 512n, cpuQuota: 50_000n, cpuPeriod: 100_000n, cpusetCpus: '0-1', cpusetMems: '0',
      memoryLimitBytes: 64n << 20n,
      hugepageLimits: [{ pageSize: '2MB', limit: 4n << 20n }],
      unified: { 'memory.high': '1000000' },
    }, ON);
    expect(r).toEqual({
      cpu: { shares: 512, quota: 50_000, period: 100_000, cpus: '0-1', mems: '0' },
      memory: { limit: 64 << 20, swap: 64 << 20 },
      hugepageLimits: [{ pageSize: '2MB', limit: 4 << 20 }],
      unified: { 'memory.high': '1000000' },
    });
  });

  it('drops hugepage limits when the hugetlb controller cannot limit the container (kubelet sends them for every page size)', () => {
    const kubelet = { ...none, hugepageLimits: [{ pageSize: '2MB', limit: 0n }, { pageSize: '1GB', limit: 0n }] };
    expect(buildResources(kubelet, { hugetlb: false })).toEqual({});
    expect(buildResources(kubelet, ON).hugepageLimits).toEqual([{ pageSize: '2MB', limit: 0 }, { pageSize: '1GB', limit: 0 }]);
    // A malformed page size is still the client's error.
    expect(() => buildResources({ ...none, hugepageLimits: [{ pageSize: 'huge', limit: 1n }] }, { hugetlb: false })).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
  });

  it('keeps an explicit swap limit and -1 quota (unlimited)', () => {
    expect(buildResources({ ...none, memoryLimitBytes: 100n, memorySwapLimitBytes: 300n }, ON).memory).toEqual({ limit: 100, swap: 300 });
    expect(buildResources({ ...none, memoryLimitBytes: 100n, memorySwapLimitBytes: -1n }, ON).memory).toEqual({ limit: 100, swap: -1 });
    expect(buildResources({ ...none, cpuQuota: -1n }, ON).cpu).toEqual({ quota: -1 });
  });

  it('rejects nonsense, naming the field', () => {
    expect(() => buildResources({ ...none, memoryLimitBytes: -5n }, ON)).toThrow(expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining('memory_limit_in_bytes') }));
    expect(() => buildResources({ ...none, memoryLimitBytes: 100n, memorySwapLimitBytes: 50n }, ON)).toThrow(expect.objectContaining({ message: expect.stringContaining('memory_swap_limit_in_bytes') }));
    expect(() => buildResources({ ...none, hugepageLimits: [{ pageSize: 'huge', limit: 1n }] }, ON)).toThrow(expect.objectContaining({ message: expect.stringContaining('hugepage_limits[0].page_size') }));
  });
});

describe('clampOomScoreAdj', () => {
  it('never goes below the floor and stays within the kernel range', () => {
    expect(clampOomScoreAdj(-998, 0)).toBe(0);
    expect(clampOomScoreAdj(-998, -999)).toBe(-998);
    expect(clampOomScoreAdj(500, 100)).toBe(500);
    expect(clampOomScoreAdj(5000, 0)).toBe(1000);
    expect(clampOomScoreAdj(-5000, -1000)).toBe(-1000);
  });
});

describe('ownOomScoreAdj', () => {
  it('reads our own value', async () => {
    expect(await ownOomScoreAdj(background())).toBe(Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim()));
  });
});
