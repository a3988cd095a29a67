import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { isErrno } from '../../common/fsutil';
import type { OciResources } from '../oci/types';
import { cgroupDetailV2, type CgroupDetail } from './cgroup-detail';
import { applyLimitsV2 } from './cgroup-limits';
import type { CgroupTree } from './cgroup-tree';
import { ownProcsFile, readBig, readStat, rmTree, workingSet, type CgroupUsage, type IoStat } from './cgroup-fs';

/**
 * cgroup v2 (unified): one tree under `root`. A controller is usable in a
 * cgroup only once every ancestor lists it in `cgroup.subtree_control`;
 * `create` enables what the root offers on each ancestor level, as runc's
 * cgroupfs manager does for `cgroupsPath` (the leaf itself enables nothing:
 * it holds processes, and the kernel's "no internal processes" rule would
 * refuse it). Interface files (cgroup-v2.rst):
 *
 *     cgroup.controllers       controllers the parent made available
 *     cgroup.subtree_control   "+cpu +memory" enables them for children
 *     cgroup.procs             pids, one a line; cgroup.kill (5.14+) "1" kills all
 *     memory.current / memory.stat (anon, file, inactive_file, pgfault, pgmajfault)
 *     cpu.stat                 usage_usec user_usec system_usec nr_periods ...
 *     pids.current             processes and threads
 *     io.stat                  "8:0 rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N"
 */

/** The controllers a unified host's root offers (its `cgroup.controllers`). */
export function v2Controllers(root: string): string[] {
  try {
    return readFileSync(join(root, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** runc's conversion of v1 `cpu.shares` (2-262144) to v2 `cpu.weight` (1-10000); 0 means unset. */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  const s = Math.min(262144, Math.max(2, shares));
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

/** `io.stat` summed over devices. */

export function parseIoStat(text: string): IoStat {
  let readBytes = 0n;
  let writeBytes = 0n;
  let readOps = 0n;
  let writeOps = 0n;
  for (const line of text.split('\n')) {
    for (const field of line.trim().split(/\s+/).slice(1)) {
      const m = /^(rbytes|wbytes|rios|wios)=(\d+)$/.exec(field);
      if (!m) continue;
      const v = BigInt(m[2]!);
      if (m[1] === 'rbytes') readBytes += v;
      else if (m[1] === 'wbytes') writeBytes += v;
      else if (m[1] === 'rios') readOps += v;
      else writeOps += v;
    }
  }
  return { readBytes, writeBytes, readOps, writeOps };
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENODEV')) return undefined;
    throw err;
  }
}

/** Writes an existing interface file: never created, never through a symlink. */
function writeExisting(file: string, value: string): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

/**
 * Enables for `level`'s children every controller `level` has and has not
 * enabled yet. All at once first; if the kernel refuses the set (a
 * controller that cannot be enabled here, such as cpuset in a threaded
 * subtree), one at a time, keeping the ones it takes.
 */
export function enableSubtree(level: string): void {
  const have = readText(join(level, 'cgroup.controllers'));
  if (have === undefined) return;
  const enabled = new Set((readText(join(level, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/));
  const want = have
    .trim()
    .split(/\s+/)
    .filter((c) => c !== '' && !enabled.has(c));
  if (want.length === 0) return;
  const file = join(level, 'cgroup.subtree_control');
  try {
    writeExisting(file, want.map((c) => `+${c}`).join(' '));
  } catch {
    for (const c of want) {
      try {
        writeExisting(file, `+${c}`);
      } catch {
        // Not available on this level; the controller's limits will not apply below it.
      }
    }
  }
}

export class CgroupfsV2 implements CgroupTree {
  readonly #root: string;
  #controllers: string[] | undefined;

  constructor(root: string) {
    this.#root = root;
  }

  has(controller: string): boolean {
    this.#controllers ??= v2Controllers(this.#root);
    return this.#controllers.includes(controller);
  }

  async dirs(path: string): Promise<string[]> {
    return [join(this.#root, path)];
  }

  async create(path: string): Promise<string[]> {
    const leaf = join(this.#root, path);
    const rel = relative(this.#root, leaf);
    const parts = rel === '' ? [] : rel.split(sep);
    let level = this.#root;
    for (const part of parts) {
      enableSubtree(level);
      level = join(level, part);
      try {
        mkdirSync(level);
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
      }
    }
    return [leaf];
  }

  async usage(path: string, nowNs: bigint): Promise<CgroupUsage> {
    const dir = join(this.#root, path);
    const cpu = readStat(join(dir, 'cpu.stat'));
    const mem = readStat(join(dir, 'memory.stat'));
    const current = readBig(join(dir, 'memory.current'));
    const usec = cpu.get('usage_usec');
    const io = readText(join(dir, 'io.stat'));
    return {
      timestampNs: nowNs,
      cpuUsageNs: usec === undefined ? undefined : usec * 1000n,
      memoryUsageBytes: current,
      memoryWorkingSetBytes: workingSet(current, mem.get('inactive_file')),
      memoryRssBytes: mem.get('anon'),
      pageFaults: mem.get('pgfault'),
      majorPageFaults: mem.get('pgmajfault'),
      pids: readBig(join(dir, 'pids.current')),
      ...(io === undefined ? {} : { io: parseIoStat(io) }),
    };
  }

  detail(path: string): Promise<CgroupDetail> {
    return cgroupDetailV2(this.#root, path);
  }

  applyLimits(path: string, r: OciResources): void {
    applyLimitsV2(this.#root, path, r);
  }

  /**
   * `cgroup.kill` (Linux 5.14+) kills the whole subtree at once, racing no
   * fork; older kernels get SIGKILL for every pid in `cgroup.procs` of the
   * cgroup and its descendants.
   */
  async killAll(path: string): Promise<void> {
    const dir = join(this.#root, path);
    try {
      writeExisting(join(dir, 'cgroup.kill'), '1');
      return;
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'EACCES') && !isErrno(err, 'EPERM')) throw err;
    }
    killProcs(dir);
  }

  async remove(path: string): Promise<void> {
    await rmTree(join(this.#root, path));
  }

  ownProcs(): string | null {
    return ownProcsFile(this.#root, true);
  }
}

function killProcs(dir: string): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const pid of (readText(join(dir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const e of entries) if (e.isDirectory()) killProcs(join(dir, e.name));
}
