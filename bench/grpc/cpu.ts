import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time a process has used so far, in nanoseconds, summed over all its
 * threads (`/proc/<pid>/task/<tid>/schedstat`, first field: time on a CPU).
 * Unlike `/proc/<pid>/stat`'s 10 ms ticks it resolves single RPCs.
 */
export function cpuNs(pid: number): number {
  let total = 0;
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tasks) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return total;
}
