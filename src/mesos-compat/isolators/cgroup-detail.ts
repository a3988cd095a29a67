import { readFileSync } from 'node:fs';
import { opendir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../../common/fsutil';

/**
 * What cAdvisor reads from a container's cgroups beyond CRI's stats (Mesos
 * `ResourceStatistics` has the same fields: user/system time, CFS
 * throttling, cache, mapped files, swap, processes, threads), for the CRI
 * metrics RPCs. Absent files (a controller not mounted, an older kernel)
 * leave fields out.
 */
export interface CgroupDetail {
  readonly cpuUserNs?: bigint;
  readonly cpuSystemNs?: bigint;
  readonly cpuPeriods?: bigint;
  readonly cpuThrottledPeriods?: bigint;
  readonly cpuThrottledNs?: bigint;
  readonly memoryCacheBytes?: bigint;
  readonly memoryMappedFileBytes?: bigint;
  readonly memorySwapBytes?: bigint;
  readonly memoryMaxUsageBytes?: bigint;
  readonly memoryKernelBytes?: bigint;
  /** Times the usage hit the limit (v1 `memory.failcnt`, v2 `memory.events` `max`). */
  readonly memoryFailcnt?: bigint;
  readonly oomKills?: bigint;
  readonly processes?: bigint;
  readonly threads?: bigint;
  /** `pids.max`; 0n when unlimited (cAdvisor's convention). */
  readonly threadsMax?: bigint;
  readonly fileDescriptors?: bigint;
  readonly sockets?: bigint;
  readonly limits: {
    readonly cpuPeriod?: bigint;
    /** cgroup v1's -1 (no quota) is reported as 0n. */
    readonly cpuQuota?: bigint;
    readonly cpuShares?: bigint;
    /** 0n when unlimited. */
    readonly memoryLimitBytes?: bigint;
    readonly memoryReservationBytes?: bigint;
    readonly memorySwapLimitBytes?: bigint;
  };
}

/** Past this a limit is "no limit" (v1 writes PAGE_COUNTER_MAX pages, 2^63 - 4096 bytes). */
const UNLIMITED = 1n << 62n;
/**
 * File descriptors looked at per container and call: a container that opens
 * a million files is counted in part (a lower bound) rather than scanned
 * for seconds.
 */
const MAX_FD_SCAN = 65_536;

/**
 * cgroupfs and procfs live in memory: their files are read directly, at a
 * tenth of the cost of a trip through libuv's thread pool each (a container
 * takes some twenty of them).
 */
function text(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENODEV') || isErrno(err, 'EINVAL') || isErrno(err, 'ENOTSUP') || isErrno(err, 'EOPNOTSUPP')) return undefined;
    throw err;
  }
}

function num(file: string): bigint | undefined {
  const t = text(file)?.trim();
  if (t === undefined || t === '') return undefined;
  if (t === 'max') return 0n;
  return /^-?\d+$/.test(t) ? BigInt(t) : undefined;
}

/** `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
function kv(file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of (text(file) ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

const limit = (v: bigint | undefined): bigint | undefined => (v === undefined ? undefined : v >= UNLIMITED || v < 0n ? 0n : v);
const lines = (t: string | undefined): string[] => (t ?? '').split('\n').filter((l) => l.trim() !== '');

/** Open fds and sockets of the processes `pids` (`/proc/<pid>/fd` listed and its links read, never followed). */
async function fdCounts(pids: readonly string[]): Promise<{ fds: bigint; sockets: bigint }> {
  let fds = 0;
  let sockets = 0;
  for (const pid of pids) {
    if (!/^\d+$/.test(pid) || fds >= MAX_FD_SCAN) continue;
    const dir = `/proc/${pid}/fd`;
    try {
      for await (const e of await opendir(dir)) {
        fds++;
        if ((await readlink(join(dir, e.name)).catch(() => '')).startsWith('socket:')) sockets++;
        if (fds >= MAX_FD_SCAN) break;
      }
    } catch {
      // The process exited meanwhile.
    }
  }
  return { fds: BigInt(fds), sockets: BigInt(sockets) };
}

/** Thread count: the `tasks` list of v1 (one line per thread); v2 has `cgroup.threads`. */
function countLines(file: string): bigint | undefined {
  const t = text(file);
  return t === undefined ? undefined : BigInt(lines(t).length);
}

export async function cgroupDetailV1(root: string, path: string): Promise<CgroupDetail> {
  const cpuacct = join(root, 'cpuacct', path);
  const cpu = join(root, 'cpu', path);
  const mem = join(root, 'memory', path);
  const pids = join(root, 'pids', path);
  const [user, sys, cpuStat, memStat, oom] = [
    num(join(cpuacct, 'cpuacct.usage_user')),
    num(join(cpuacct, 'cpuacct.usage_sys')),
    kv(join(cpu, 'cpu.stat')),
    kv(join(mem, 'memory.stat')),
    kv(join(mem, 'memory.oom_control')),
  ];
  const procs = lines(text(join(mem, 'cgroup.procs')));
  const fd = await fdCounts(procs);
  const memsw = num(join(mem, 'memory.memsw.limit_in_bytes'));
  const quota = num(join(cpu, 'cpu.cfs_quota_us'));
  return {
    cpuUserNs: user,
    cpuSystemNs: sys,
    cpuPeriods: cpuStat.get('nr_periods'),
    cpuThrottledPeriods: cpuStat.get('nr_throttled'),
    cpuThrottledNs: cpuStat.get('throttled_time'),
    memoryCacheBytes: memStat.get('total_cache'),
    memoryMappedFileBytes: memStat.get('total_mapped_file'),
    memorySwapBytes: memStat.get('total_swap'),
    memoryMaxUsageBytes: num(join(mem, 'memory.max_usage_in_bytes')),
    memoryKernelBytes: num(join(mem, 'memory.kmem.usage_in_bytes')),
    memoryFailcnt: num(join(mem, 'memory.failcnt')),
    oomKills: oom.get('oom_kill'),
    processes: BigInt(procs.length),
    threads: countLines(join(mem, 'tasks')),
    threadsMax: num(join(pids, 'pids.max')),
    fileDescriptors: fd.fds,
    sockets: fd.sockets,
    limits: {
      cpuPeriod: num(join(cpu, 'cpu.cfs_period_us')),
      cpuQuota: quota === undefined ? undefined : quota < 0n ? 0n : quota,
      cpuShares: num(join(cpu, 'cpu.shares')),
      memoryLimitBytes: limit(num(join(mem, 'memory.limit_in_bytes'))),
      memoryReservationBytes: limit(num(join(mem, 'memory.soft_limit_in_bytes'))),
      memorySwapLimitBytes: limit(memsw),
    },
  };
}

/** cgroup v2 `cpu.weight` (1-10000) as v1 shares (2-262144), the conversion runc and cAdvisor use. */
const weightToShares = (w: bigint): bigint => 2n + ((w - 1n) * 262142n) / 9999n;

export async function cgroupDetailV2(root: string, path: string): Promise<CgroupDetail> {
  const dir = join(root, path);
  const [cpuStat, memStat, events] = [kv(join(dir, 'cpu.stat')), kv(join(dir, 'memory.stat')), kv(join(dir, 'memory.events'))];
  const procs = lines(text(join(dir, 'cgroup.procs')));
  const fd = await fdCounts(procs);
  const cpuMax = (text(join(dir, 'cpu.max')) ?? '').trim().split(/\s+/);
  const weight = num(join(dir, 'cpu.weight'));
  const us = (v: bigint | undefined): bigint | undefined => (v === undefined ? undefined : v * 1000n);
  return {
    cpuUserNs: us(cpuStat.get('user_usec')),
    cpuSystemNs: us(cpuStat.get('system_usec')),
    cpuPeriods: cpuStat.get('nr_periods'),
    cpuThrottledPeriods: cpuStat.get('nr_throttled'),
    cpuThrottledNs: us(cpuStat.get('throttled_usec')),
    memoryCacheBytes: memStat.get('file'),
    memoryMappedFileBytes: memStat.get('file_mapped'),
    memorySwapBytes: num(join(dir, 'memory.swap.current')),
    memoryMaxUsageBytes: num(join(dir, 'memory.peak')),
    memoryKernelBytes: memStat.get('kernel'),
    memoryFailcnt: events.get('max'),
    oomKills: events.get('oom_kill'),
    processes: BigInt(procs.length),
    threads: countLines(join(dir, 'cgroup.threads')),
    threadsMax: num(join(dir, 'pids.max')),
    fileDescriptors: fd.fds,
    sockets: fd.sockets,
    limits: {
      cpuPeriod: cpuMax[1] && /^\d+$/.test(cpuMax[1]) ? BigInt(cpuMax[1]) : undefined,
      cpuQuota: cpuMax[0] === undefined || cpuMax[0] === '' ? undefined : /^\d+$/.test(cpuMax[0]) ? BigInt(cpuMax[0]) : 0n,
      cpuShares: weight === undefined ? undefined : weightToShares(weight),
      memoryLimitBytes: limit(num(join(dir, 'memory.max'))),
      memoryReservationBytes: limit(num(join(dir, 'memory.low'))),
      memorySwapLimitBytes: limit(num(join(dir, 'memory.swap.max'))),
    },
  };
}

export interface InterfaceStats {
  readonly name: string;
  readonly rxBytes: bigint;
  readonly rxPackets: bigint;
  readonly rxErrors: bigint;
  readonly rxDropped: bigint;
  readonly txBytes: bigint;
  readonly txPackets: bigint;
  readonly txErrors: bigint;
  readonly txDropped: bigint;
}

/** Interfaces reported per pod: a pod that makes thousands of links must not make thousands of series. */
const MAX_INTERFACES = 32;

/**
 * The interfaces of the network namespace `pid` lives in, from
 * `/proc/<pid>/net/dev` (the pod's infra process, so no `setns` is
 * needed). `lo` is left out, as cAdvisor does.
 */
export async function netnsInterfaces(pid: number): Promise<InterfaceStats[] | undefined> {
  let t: string | undefined;
  try {
    t = text(`/proc/${pid}/net/dev`);
  } catch {
    t = undefined;
  }
  return t === undefined ? undefined : parseNetDev(t);
}

/** `/proc/net/dev`: two header lines, then `name: rx×8 tx×8` per interface. */
export function parseNetDev(t: string): InterfaceStats[] {
  const out: InterfaceStats[] = [];
  for (const line of t.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/);
    if (name === 'lo' || f.length < 16 || !f.every((x) => /^\d+$/.test(x))) continue;
    const n = f.map((x) => BigInt(x));
    out.push({ name, rxBytes: n[0]!, rxPackets: n[1]!, rxErrors: n[2]!, rxDropped: n[3]!, txBytes: n[8]!, txPackets: n[9]!, txErrors: n[10]!, txDropped: n[11]! });
    if (out.length >= MAX_INTERFACES) break;
  }
  return out;
}
