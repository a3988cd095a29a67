import { closeSync, constants, existsSync as exists, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CriError } from '../../common/errors';
import { isErrno } from '../../common/fsutil';
import type { OciResources } from '../oci/types';

/**
 * Writes limits into an existing cgroup the way runc's cgroupfs managers
 * do for `runc update`, for cgroups no OCI runtime owns (a pod's cgroup).
 * Only files that already exist are opened (never created, never through
 * a symlink); a write the kernel refuses becomes a CRI error naming the
 * file: EBUSY (a memory limit below what the pod uses, a cpuset its
 * containers still need) is `FailedPrecondition`, EINVAL `InvalidArgument`.
 */

/** A `unified` key: `<controller>.<file>`, nothing that walks the tree or moves processes. */
const UNIFIED_KEY = /^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/;

export function checkUnified(unified: Readonly<Record<string, string>> | undefined, v2: boolean): void {
  const keys = Object.keys(unified ?? {});
  if (keys.length === 0) return;
  if (!v2) throw new CriError('InvalidArgument', 'failed to apply resources.unified: it needs cgroup v2, and this host runs cgroup v1');
  for (const k of keys) {
    if (!UNIFIED_KEY.test(k) || k.includes('..') || k.startsWith('cgroup.')) {
      throw new CriError('InvalidArgument', `failed to apply resources.unified: "${k}" is not a cgroup interface file`);
    }
  }
}

function write(dir: string, file: string, value: string): void {
  const path = join(dir, file);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new CriError('FailedPrecondition', `failed to write ${path}: the cgroup or its controller is not there`, { cause: err });
    throw new CriError('Internal', `failed to open ${path}`, { cause: err });
  }
  try {
    writeSync(fd, value);
  } catch (err) {
    if (isErrno(err, 'EBUSY')) throw new CriError('FailedPrecondition', `failed to write ${value} to ${path}: the cgroup's tasks or children need more`, { cause: err });
    if (isErrno(err, 'EINVAL') || isErrno(err, 'ERANGE')) throw new CriError('InvalidArgument', `failed to write ${value} to ${path}: the kernel refuses it`, { cause: err });
    throw new CriError('Internal', `failed to write ${value} to ${path}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

const readNum = (path: string): bigint | undefined => {
  try {
    const t = readFileSync(path, 'utf8').trim();
    return /^-?\d+$/.test(t) ? BigInt(t) : undefined;
  } catch {
    return undefined;
  }
};

/** cgroup v1: one directory per controller under `root`. */
export function applyLimitsV1(root: string, path: string, r: OciResources): void {
  const cpu = join(root, 'cpu', path);
  const cpuset = join(root, 'cpuset', path);
  const mem = join(root, 'memory', path);
  if (r.cpu?.period !== undefined) write(cpu, 'cpu.cfs_period_us', String(r.cpu.period));
  if (r.cpu?.quota !== undefined) write(cpu, 'cpu.cfs_quota_us', String(r.cpu.quota < 0 ? -1 : r.cpu.quota));
  if (r.cpu?.shares !== undefined) write(cpu, 'cpu.shares', String(r.cpu.shares));
  if (r.cpu?.cpus !== undefined) write(cpuset, 'cpuset.cpus', r.cpu.cpus);
  if (r.cpu?.mems !== undefined) write(cpuset, 'cpuset.mems', r.cpu.mems);
  if (r.memory?.limit !== undefined) {
    const limit = BigInt(r.memory.limit);
    const swap = r.memory.swap === undefined ? undefined : r.memory.swap < 0 ? -1n : BigInt(r.memory.swap);
    const memsw = join(mem, 'memory.memsw.limit_in_bytes');
    const hasSwapFile = exists(memsw);
    // memory.limit must stay at or below memsw at every step: raise memsw first, lower it last.
    const current = hasSwapFile ? readNum(memsw) : undefined;
    if (hasSwapFile && swap !== undefined && current !== undefined && (swap < 0n || swap > current)) {
      write(mem, 'memory.memsw.limit_in_bytes', String(swap));
      write(mem, 'memory.limit_in_bytes', String(limit));
    } else {
      write(mem, 'memory.limit_in_bytes', String(limit));
      if (hasSwapFile && swap !== undefined) write(mem, 'memory.memsw.limit_in_bytes', String(swap));
    }
  }
  if (r.memory?.reservation !== undefined) write(mem, 'memory.soft_limit_in_bytes', String(r.memory.reservation));
  for (const h of r.hugepageLimits ?? []) {
    // This host kind mounts hugetlb on the v2 hierarchy: use whichever has it.
    const v1 = join(root, 'hugetlb', path);
    if (exists(join(v1, `hugetlb.${h.pageSize}.limit_in_bytes`))) write(v1, `hugetlb.${h.pageSize}.limit_in_bytes`, String(h.limit));
    else write(join(root, 'unified', path), `hugetlb.${h.pageSize}.max`, String(h.limit));
  }
}

/** cgroup v2: one directory; cpu.max and cpu.weight replace quota/period and shares. */
export function applyLimitsV2(root: string, path: string, r: OciResources): void {
  const dir = join(root, path);
  if (r.cpu?.quota !== undefined || r.cpu?.period !== undefined) {
    const cur = (() => {
      try {
        return readFileSync(join(dir, 'cpu.max'), 'utf8').trim().split(/\s+/);
      } catch {
        return ['max', '100000'];
      }
    })();
    const quota = r.cpu.quota === undefined ? cur[0]! : r.cpu.quota < 0 ? 'max' : String(r.cpu.quota);
    write(dir, 'cpu.max', `${quota} ${r.cpu.period ?? cur[1] ?? 100000}`);
  }
  // runc's conversion of shares (2-262144) to weight (1-10000).
  if (r.cpu?.shares !== undefined) write(dir, 'cpu.weight', String(1 + Math.floor(((Math.max(2, r.cpu.shares) - 2) * 9999) / 262142)));
  if (r.cpu?.cpus !== undefined) write(dir, 'cpuset.cpus', r.cpu.cpus);
  if (r.cpu?.mems !== undefined) write(dir, 'cpuset.mems', r.cpu.mems);
  if (r.memory?.limit !== undefined) {
    write(dir, 'memory.max', String(r.memory.limit));
    // OCI swap is memory + swap; v2's swap.max is the swap alone.
    if (r.memory.swap !== undefined && exists(join(dir, 'memory.swap.max'))) {
      write(dir, 'memory.swap.max', r.memory.swap < 0 ? 'max' : String(Math.max(0, r.memory.swap - r.memory.limit)));
    }
  }
  if (r.memory?.reservation !== undefined) write(dir, 'memory.low', String(r.memory.reservation));
  if (r.pids !== undefined) write(dir, 'pids.max', r.pids.limit <= 0 ? 'max' : String(r.pids.limit));
  for (const h of r.hugepageLimits ?? []) write(dir, `hugetlb.${h.pageSize}.max`, String(h.limit));
  for (const [k, v] of Object.entries(r.unified ?? {})) write(dir, k, v);
}
