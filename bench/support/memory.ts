/**
 * Memory of a set of processes. PSS (`/proc/<pid>/smaps_rollup`) splits
 * shared pages between their users, so summing it over containerd and N
 * shims (or our daemon and N conmons) does not count shared text N times;
 * RSS (`VmRSS`) is reported beside it because the targets quote RSS.
 */
import { readFileSync } from 'node:fs';

export interface Memory {
  readonly pids: number;
  readonly rssKiB: number;
  readonly pssKiB: number;
}

function field(file: string, re: RegExp): number {
  try {
    const m = re.exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // exited while we looked
  }
}

export const rssKiB = (pid: number): number => field(`/proc/${pid}/status`, /^VmRSS:\s+(\d+)/m);
export const pssKiB = (pid: number): number => field(`/proc/${pid}/smaps_rollup`, /^Pss:\s+(\d+)/m);

export function memoryOf(pids: readonly number[]): Memory {
  let rss = 0;
  let pss = 0;
  for (const pid of pids) {
    rss += rssKiB(pid);
    pss += pssKiB(pid);
  }
  return { pids: pids.length, rssKiB: rss, pssKiB: pss };
}

export const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;

export interface ProcessMemory {
  readonly pid: number;
  /** `/proc/<pid>/comm`: the executable's short name. */
  readonly name: string;
  readonly rssMiB: number;
  readonly pssMiB: number;
}

/** Per-process breakdown, largest PSS first. */
export function processMemory(pids: readonly number[]): ProcessMemory[] {
  const comm = (pid: number): string => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return '?';
    }
  };
  return pids
    .map((pid) => ({ pid, name: comm(pid), rssMiB: mib(rssKiB(pid)), pssMiB: mib(pssKiB(pid)) }))
    .sort((a, b) => b.pssMiB - a.pssMiB);
}
