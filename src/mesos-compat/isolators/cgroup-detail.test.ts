import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cgroupDetailV1, cgroupDetailV2, parseNetDev } from './cgroup-detail';

describe('cgroup detail for the CRI metrics', () => {
  let root = '';
  afterEach(() => rmSync(root, { recursive: true, force: true }));
  const put = (file: string, text: string): void => {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(join(root, file), text);
  };

  it('reads cgroup v1 files, with no limit reported as 0', async () => {
    root = mkdtempSync(join(tmpdir(), 'mcri-cg1-'));
    const p = '/pod/ctr';
    put(`cpuacct${p}/cpuacct.usage_user`, '3000000000\n');
    put(`cpuacct${p}/cpuacct.usage_sys`, '1000000000\n');
    put(`cpu${p}/cpu.stat`, 'nr_periods 10\nnr_throttled 4\nthrottled_time 2500000000\n');
    put(`cpu${p}/cpu.cfs_quota_us`, '-1\n');
    put(`cpu${p}/cpu.cfs_period_us`, '100000\n');
    put(`cpu${p}/cpu.shares`, '512\n');
    put(`memory${p}/memory.stat`, 'cache 1\ntotal_cache 4096\ntotal_mapped_file 1024\ntotal_swap 0\n');
    put(`memory${p}/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    put(`memory${p}/memory.limit_in_bytes`, '9223372036854771712\n');
    put(`memory${p}/memory.soft_limit_in_bytes`, '9223372036854771712\n');
    put(`memory${p}/memory.memsw.limit_in_bytes`, '67108864\n');
    put(`memory${p}/memory.max_usage_in_bytes`, '8192\n');
    put(`memory${p}/memory.failcnt`, '7\n');
    put(`memory${p}/cgroup.procs`, '');
    put(`memory${p}/tasks`, '');
    put(`pids${p}/pids.max`, 'max\n');
    const d = await cgroupDetailV1(root, p);
    expect(d).toMatchObject({
      cpuUserNs: 3_000_000_000n,
      cpuSystemNs: 1_000_000_000n,
      cpuPeriods: 10n,
      cpuThrottledPeriods: 4n,
      cpuThrottledNs: 2_500_000_000n,
      memoryCacheBytes: 4096n,
      memoryMappedFileBytes: 1024n,
      memoryMaxUsageBytes: 8192n,
      memoryFailcnt: 7n,
      oomKills: 2n,
      processes: 0n,
      threads: 0n,
      threadsMax: 0n,
      fileDescriptors: 0n,
      limits: { cpuPeriod: 100000n, cpuQuota: 0n, cpuShares: 512n, memoryLimitBytes: 0n, memoryReservationBytes: 0n, memorySwapLimitBytes: 67108864n },
    });
    expect(d.memoryKernelBytes).toBeUndefined();
  });

  it('reads cgroup v2 files, converting weight to shares and microseconds to nanoseconds', async () => {
    root = mkdtempSync(join(tmpdir(), 'mcri-cg2-'));
    const p = '/pod/ctr';
    put(`${p}/cpu.stat`, 'usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 3\nnr_throttled 1\nthrottled_usec 700\n');
    put(`${p}/cpu.max`, '50000 100000\n');
    put(`${p}/cpu.weight`, '100\n');
    put(`${p}/memory.stat`, 'anon 10\nfile 20\nfile_mapped 5\nkernel 3\n');
    put(`${p}/memory.events`, 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n');
    put(`${p}/memory.max`, '134217728\n');
    put(`${p}/memory.swap.max`, 'max\n');
    put(`${p}/cgroup.procs`, '');
    put(`${p}/cgroup.threads`, '');
    const d = await cgroupDetailV2(root, p);
    expect(d).toMatchObject({
      cpuUserNs: 3_000_000n,
      cpuSystemNs: 2_000_000n,
      cpuThrottledNs: 700_000n,
      memoryCacheBytes: 20n,
      memoryMappedFileBytes: 5n,
      memoryKernelBytes: 3n,
      memoryFailcnt: 4n,
      oomKills: 1n,
      limits: { cpuPeriod: 100000n, cpuQuota: 50000n, cpuShares: 2597n, memoryLimitBytes: 134217728n, memorySwapLimitBytes: 0n },
    });
  });

  it('parses /proc/net/dev without lo, and keeps at most 32 interfaces of a hostile pod', () => {
    const head = 'Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n';
    const row = (n: string, base: number): string => `${n}: ${Array.from({ length: 16 }, (_, i) => base + i).join(' ')}\n`;
    expect(parseNetDev(head + row('lo', 0) + row('eth0', 100))).toEqual([
      { name: 'eth0', rxBytes: 100n, rxPackets: 101n, rxErrors: 102n, rxDropped: 103n, txBytes: 108n, txPackets: 109n, txErrors: 110n, txDropped: 111n },
    ]);
    const many = head + Array.from({ length: 100 }, (_, i) => row(`d${i}`, i)).join('');
    expect(parseNetDev(many)).toHaveLength(32);
  });
});
