import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../../common/fsutil';
import { KeptFiles } from '../../common/kept-files';

/** Reading helpers shared by the v1 and v2 trees (`cgroups.ts`, `cgroup-v2.ts`). */

/** CPU and memory of one cgroup, as CRI `CpuUsage`/`MemoryUsage` want them. */
/** Bytes and operations read and written (v2 `io.stat`, summed over devices). */
export interface IoStat {
  readonly readBytes: bigint;
  readonly writeBytes: bigint;
  readonly readOps: bigint;
  readonly writeOps: bigint;
}

export interface CgroupUsage {
  readonly timestampNs: bigint;
  readonly cpuUsageNs?: bigint;
  readonly memoryUsageBytes?: bigint;
  /** usage minus inactive file pages, what kubelet evicts on (cadvisor's definition). */
  readonly memoryWorkingSetBytes?: bigint;
  readonly memoryRssBytes?: bigint;
  readonly pageFaults?: bigint;
  readonly majorPageFaults?: bigint;
  /** v2 `pids.current` (processes and threads). */
  readonly pids?: bigint;
  /** v2 `io.stat`, summed over devices. */
  readonly io?: IoStat;
}

/**
 * cgroupfs lives in memory: its files are read directly (a tenth of the
 * cost of a trip through libuv's thread pool), each once per `usage`,
 * through fds kept open (`rmTree` closes a removed cgroup's).
 */
const kept = new KeptFiles(2048);

export function readBig(file: string): bigint | undefined {
  const text = kept.read(file)?.trim();
  return text === undefined || text === '' || text === 'max' ? undefined : BigInt(text.split(/\s+/)[0]!);
}

export function readStat(file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of (kept.read(file) ?? '').split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const v = line.slice(sp + 1);
    if (/^\d+$/.test(v)) out.set(line.slice(0, sp), BigInt(v));
  }
  return out;
}

export function workingSet(usage: bigint | undefined, inactive: bigint | undefined): bigint | undefined {
  if (usage === undefined) return undefined;
  const ws = usage - (inactive ?? 0n);
  return ws < 0n ? 0n : ws;
}

export async function rmTree(dir: string): Promise<void> {
  kept.forget(dir);
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  for (const e of entries) if (e.isDirectory()) await rmTree(join(dir, e.name));
  for (let i = 0; ; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      // EBUSY: the kernel is still tearing down the last task's accounting.
      if (isErrno(err, 'EBUSY') && i < 50) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      throw err;
    }
  }
}

/** The cgroup.procs file of this process's own cgroup in one mounted hierarchy; null when none is found. */
export function ownProcsFile(root: string, v2: boolean): string | null {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line);
    if (!m) continue;
    const [, controllers, path] = m;
    if (v2 !== (controllers === '')) continue;
    const hierarchy = v2 ? root : join(root, controllers!.split(',')[0]!.replace(/^name=/, ''));
    const file = join(hierarchy, path!, 'cgroup.procs');
    if (existsSync(file)) return file;
  }
  return null;
}
