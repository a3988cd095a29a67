import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CriError } from '../../common/errors';
import { detectCgroupLayout } from './cgroup-layout';
import { CgroupfsV2, parseIoStat, sharesToWeight } from './cgroup-v2';
import { Cgroups } from './cgroups';

/*
 * A recorded cgroup v2 tree: the interface file names and contents a
 * unified host shows (Documentation/admin-guide/cgroup-v2.rst; the formats
 * runc's fs2 tests feed). cgroupfs files are plain files here, so a write
 * leaves the last value written, which is what the tests read back.
 */
const ROOT_FILES: Record<string, string> = {
  'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
  'cgroup.subtree_control': '',
  'cgroup.procs': '',
};

const LEAF_FILES: Record<string, string> = {
  'cgroup.controllers': 'cpuset cpu io memory hugetlb pids\n',
  'cgroup.subtree_control': '',
  'cgroup.procs': '',
  'cgroup.kill': '',
  'cgroup.threads': '',
  'cpu.max': 'max 100000\n',
  'cpu.weight': '100\n',
  'cpu.stat': 'usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 10\nnr_throttled 2\nthrottled_usec 5000\n',
  'memory.current': '10485760\n',
  'memory.max': 'max\n',
  'memory.low': '0\n',
  'memory.swap.max': 'max\n',
  'memory.swap.current': '0\n',
  'memory.events': 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n',
  'memory.stat':
    'anon 4194304\nfile 6291456\nkernel 262144\nfile_mapped 1048576\nactive_anon 4096\ninactive_anon 4190208\nactive_file 2097152\ninactive_file 4194304\npgfault 2048\npgmajfault 7\n',
  'pids.current': '3\n',
  'pids.max': 'max\n',
  'io.stat': '8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n8:0 rbytes=90430464 wbytes=299008000 rios=8950 wios=1252 dbytes=50331648 dios=3021\n',
  'hugetlb.2MB.max': 'max\n',
  'hugetlb.1GB.max': 'max\n',
};

function populate(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

const read = (f: string): string => readFileSync(f, 'utf8');

describe('cgroup layout', () => {
  const UNIFIED = '29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot';
  const HYBRID = [
    '30 22 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
    '31 30 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
    '32 30 0:29 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
    '33 30 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory',
    '34 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct',
  ].join('\n');
  const V1 = HYBRID.split('\n')
    .filter((l) => !l.includes('cgroup2'))
    .join('\n');

  it('tells unified, hybrid and v1 apart', () => {
    expect(detectCgroupLayout(UNIFIED, () => 'cpuset cpu io memory pids\n')).toEqual({
      layout: 'unified',
      v2Mount: '/sys/fs/cgroup',
      controllers: ['cpuset', 'cpu', 'io', 'memory', 'pids'],
    });
    expect(detectCgroupLayout(HYBRID, () => undefined)).toEqual({ layout: 'hybrid', v2Mount: '/sys/fs/cgroup/unified', controllers: ['cpu', 'cpuacct', 'memory'] });
    expect(detectCgroupLayout(V1, () => undefined)).toEqual({ layout: 'v1', controllers: ['cpu', 'cpuacct', 'memory'] });
  });

  it('a cgroup2 mount at the root without cgroup.controllers is not taken as unified', () => {
    expect(detectCgroupLayout(UNIFIED, () => undefined).layout).toBe('hybrid');
  });
});

describe('cgroup v2 (recorded tree)', () => {
  let root = '';
  let canary = '';
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'cg2-unit-'));
    canary = mkdtempSync(join(tmpdir(), 'cg2-canary-'));
    writeFileSync(join(canary, 'memory.max'), 'untouched');
    populate(root, ROOT_FILES);
    populate(join(root, 'kubepods'), { ...LEAF_FILES, 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids\n' });
    populate(join(root, 'kubepods/pod1/c1'), LEAF_FILES);
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(canary, { recursive: true, force: true });
  });

  it('Cgroups picks the v2 tree on a unified root and reports the layout', async () => {
    const cg = new Cgroups(root, () => '');
    expect(cg.v2).toBe(true);
    expect(cg.layout).toBe('unified');
    expect(cg.has('hugetlb')).toBe(true);
    expect(cg.has('blkio')).toBe(false);
    expect(await cg.dirs('kubepods/pod1')).toEqual([join(root, 'kubepods/pod1')]);
  });

  it('create enables every offered controller on each ancestor, never on the leaf', async () => {
    writeFileSync(join(root, 'kubepods/cgroup.subtree_control'), 'cpu memory');
    const dirs = await new CgroupfsV2(root).create('kubepods/pod2/c2');
    expect(dirs).toEqual([join(root, 'kubepods/pod2/c2')]);
    expect(existsSync(join(root, 'kubepods/pod2/c2'))).toBe(true);
    expect(read(join(root, 'cgroup.subtree_control'))).toBe('+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc');
    // Already-enabled controllers are not written again.
    expect(read(join(root, 'kubepods/cgroup.subtree_control'))).toBe('+cpuset +io +hugetlb +pids');
  });

  it('create refuses to follow a symlinked subtree_control (nothing outside the tree is written)', async () => {
    rmSync(join(root, 'kubepods/cgroup.subtree_control'));
    symlinkSync(join(canary, 'memory.max'), join(root, 'kubepods/cgroup.subtree_control'));
    await new CgroupfsV2(root).create('kubepods/pod3');
    expect(read(join(canary, 'memory.max'))).toBe('untouched');
  });

  it('usage reads memory.current/stat, cpu.stat usage_usec, pids.current and io.stat', async () => {
    const u = await new CgroupfsV2(root).usage('kubepods/pod1/c1', 42n);
    expect(u).toEqual({
      timestampNs: 42n,
      cpuUsageNs: 1234567000n,
      memoryUsageBytes: 10485760n,
      memoryWorkingSetBytes: 10485760n - 4194304n,
      memoryRssBytes: 4194304n,
      pageFaults: 2048n,
      majorPageFaults: 7n,
      pids: 3n,
      io: { readBytes: 1459200n + 90430464n, writeBytes: 314773504n + 299008000n, readOps: 192n + 8950n, writeOps: 353n + 1252n },
    });
  });

  it('usage of a missing cgroup leaves fields out rather than failing', async () => {
    const u = await new CgroupfsV2(root).usage('kubepods/gone', 1n);
    expect(u.cpuUsageNs).toBeUndefined();
    expect(u.memoryUsageBytes).toBeUndefined();
    expect(u.io).toBeUndefined();
  });

  it('detail converts cpu.weight back to shares and reads memory.events', async () => {
    writeFileSync(join(root, 'kubepods/pod1/c1/cpu.weight'), '39\n');
    writeFileSync(join(root, 'kubepods/pod1/c1/cpu.max'), '50000 100000\n');
    const d = await new CgroupfsV2(root).detail('kubepods/pod1/c1');
    // weight 39 is what shares 1024 become; the way back loses the remainder, as in cAdvisor.
    expect(d.limits.cpuShares).toBe(998n);
    expect(d.limits.cpuQuota).toBe(50000n);
    expect(d.limits.cpuPeriod).toBe(100000n);
    expect(d.memoryFailcnt).toBe(3n);
    expect(d.oomKills).toBe(1n);
    expect(d.cpuThrottledNs).toBe(5_000_000n);
  });

  it('applyLimits writes memory.max, memory.swap.max (swap alone), cpu.max, cpu.weight, pids.max, hugetlb.*.max', () => {
    const dir = join(root, 'kubepods/pod1/c1');
    new CgroupfsV2(root).applyLimits('kubepods/pod1/c1', {
      memory: { limit: 268435456, swap: 536870912 },
      cpu: { shares: 512, quota: 25000, period: 50000 },
      pids: { limit: 100 },
      hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
    });
    expect(read(join(dir, 'memory.max'))).toBe('268435456');
    expect(read(join(dir, 'memory.swap.max'))).toBe('268435456');
    expect(read(join(dir, 'cpu.max'))).toBe('25000 50000');
    expect(read(join(dir, 'cpu.weight'))).toBe(String(sharesToWeight(512)));
    expect(read(join(dir, 'pids.max'))).toBe('100');
    expect(read(join(dir, 'hugetlb.2MB.max'))).toBe('4194304');
  });

  it('applyLimits: quota -1 is "max" keeping the period; swap -1 is "max"; no swap file, no swap write', () => {
    const dir = join(root, 'kubepods/pod1/c1');
    writeFileSync(join(dir, 'cpu.max'), '20000 80000\n');
    const v2 = new CgroupfsV2(root);
    v2.applyLimits('kubepods/pod1/c1', { cpu: { quota: -1 }, memory: { limit: 1048576, swap: -1 } });
    expect(read(join(dir, 'cpu.max'))).toBe('max 80000');
    expect(read(join(dir, 'memory.swap.max'))).toBe('max');
    rmSync(join(dir, 'memory.swap.max'));
    v2.applyLimits('kubepods/pod1/c1', { memory: { limit: 2097152, swap: 4194304 } });
    expect(existsSync(join(dir, 'memory.swap.max'))).toBe(false);
    expect(read(join(dir, 'memory.max'))).toBe('2097152');
  });

  it('applyLimits never creates a file nor follows a symlink: a missing controller is FailedPrecondition', () => {
    const dir = join(root, 'kubepods/pod1/c1');
    rmSync(join(dir, 'hugetlb.1GB.max'));
    const v2 = new CgroupfsV2(root);
    const err = (() => {
      try {
        v2.applyLimits('kubepods/pod1/c1', { hugepageLimits: [{ pageSize: '1GB', limit: 1 }] });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).code).toBe('FailedPrecondition');
    expect(existsSync(join(dir, 'hugetlb.1GB.max'))).toBe(false);
    rmSync(join(dir, 'memory.max'));
    symlinkSync(join(canary, 'memory.max'), join(dir, 'memory.max'));
    expect(() => v2.applyLimits('kubepods/pod1/c1', { memory: { limit: 1 } })).toThrow(CriError);
    expect(read(join(canary, 'memory.max'))).toBe('untouched');
  });

  it('killAll writes cgroup.kill when the kernel has it', async () => {
    await new CgroupfsV2(root).killAll('kubepods/pod1/c1');
    expect(read(join(root, 'kubepods/pod1/c1/cgroup.kill'))).toBe('1');
  });

  it('killAll without cgroup.kill SIGKILLs the pids in cgroup.procs of the subtree', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
    writeFileSync(join(root, 'kubepods/pod1/c1/cgroup.procs'), `${child.pid}\n`);
    rmSync(join(root, 'kubepods/pod1/c1/cgroup.kill'));
    await new CgroupfsV2(root).killAll('kubepods/pod1');
    expect(await exited).toBe('SIGKILL');
  });

  it('remove deletes the cgroup and its children; idempotent', async () => {
    // rmdir on a real cgroup removes its interface files with it; here they are emptied first.
    for (const d of ['kubepods/pod1/c1', 'kubepods/pod1']) for (const f of Object.keys(LEAF_FILES)) rmSync(join(root, d, f), { force: true });
    const v2 = new CgroupfsV2(root);
    await v2.remove('kubepods/pod1');
    expect(existsSync(join(root, 'kubepods/pod1'))).toBe(false);
    await v2.remove('kubepods/pod1');
    expect(existsSync(join(root, 'kubepods'))).toBe(true);
  });
});

describe('cgroup v2 conversions', () => {
  it('cpu.weight from shares as runc: 1 + ((shares - 2) * 9999) / 262142', () => {
    expect(sharesToWeight(0)).toBe(0);
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(1)).toBe(1);
    expect(sharesToWeight(10_000_000)).toBe(10000);
  });

  it('io.stat sums devices and skips unknown keys', () => {
    expect(parseIoStat('8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=5 dios=1\n254:0 rbytes=1 wbytes=2 rios=3 wios=4 cost.usage=7\n\n')).toEqual({
      readBytes: 11n,
      writeBytes: 22n,
      readOps: 4n,
      writeOps: 6n,
    });
  });
});
