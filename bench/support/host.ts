/**
 * Host-side bookkeeping for benchmark daemons: finding the processes that
 * belong to one run (by a unique temp path in their command line), and
 * undoing what a run left behind (mounts below a dir, cgroups it created).
 * Nothing here acts on anything it cannot tie to our own temp paths or to a
 * before/after snapshot.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const CGROUP_ROOT = '/sys/fs/cgroup';

/** Live pids whose command line contains `needle` (never our own). */
export function processesMatching(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(needle)) out.push(pid);
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Busy CPU time of the whole host so far, in ms (from `/proc/stat`, all CPUs). */
export function hostBusyCpuMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return ((user + nice + system + irq + softirq + steal) * 1000) / 100; // USER_HZ is 100 on Linux
}

/** CPU (user + system, in ms) each of `pids` used so far; gone ones are left out. */
export function processCpuMs(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(pid, ((Number(f[11]) + Number(f[12])) * 1000) / 100);
    } catch {
      // exited while we looked
    }
  }
  return out;
}

export const alive = (pid: number): boolean => {
  try {
    // A zombie still answers signal 0; treat it as gone since it holds nothing.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Polls until every pid is gone; false when `ms` elapsed first. */
export async function waitGone(pids: readonly number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (pids.some(alive)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything below `dir`; returns what is still mounted afterwards. */
export function unmountUnder(dir: string): string[] {
  for (let round = 0; round < 3; round++) {
    const mounts = mountsUnder(dir);
    if (mounts.length === 0) return [];
    for (const m of mounts) spawnSync('umount', ['-l', m]);
  }
  return mountsUnder(dir);
}

/** Every cgroup dir named `name` under each v1/v2 hierarchy, and everything below them. */
export function cgroupsNamed(name: string): Set<string> {
  const found = new Set<string>();
  const walk = (dir: string): void => {
    found.add(dir);
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
  };
  for (const h of readdirSync(CGROUP_ROOT)) {
    const top = join(CGROUP_ROOT, h, name);
    try {
      if (statSync(top).isDirectory()) walk(top);
    } catch {
      // this hierarchy has none
    }
  }
  return found;
}

/**
 * Removes the cgroups that appeared since `before` (deepest first), killing
 * any process still inside them; returns those that could not be removed.
 * Only for names no one else uses (a snapshot diff cannot tell whose a new
 * cgroup is).
 */
export async function removeNewCgroups(name: string, before: ReadonlySet<string>): Promise<string[]> {
  return removeCgroups([...cgroupsNamed(name)].filter((d) => !before.has(d)));
}

/** Kills what runs in `dirs` and removes them, deepest first; returns those left. */
export async function removeCgroups(dirs: readonly string[]): Promise<string[]> {
  const fresh = [...dirs].sort((a, b) => b.length - a.length);
  for (const dir of fresh) {
    const procs = readPids(join(dir, 'cgroup.procs'));
    for (const pid of procs) signal(pid, 'SIGKILL');
    if (procs.length > 0) await waitGone(procs, 5_000);
  }
  const left: string[] = [];
  for (const dir of fresh) {
    let removed = false;
    for (let i = 0; i < 40 && !removed; i++) {
      try {
        rmdirSync(dir);
        removed = true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') removed = true;
        else await new Promise((r) => setTimeout(r, 25));
      }
    }
    if (!removed) left.push(dir);
  }
  return left;
}

function readPids(file: string): number[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
