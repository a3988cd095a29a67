import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { parseMountInfo } from '../common/mountinfo';
import { conmonBundle } from './monitor-procs';
import { containersDir, exitsDir, quarantineDir, sandboxesDir, shmDir, socketsDir, type Roots } from './paths';

/**
 * `mesos-cri check --leaks`: every object of this instance that no
 * checkpoint accounts for. "This instance" is its own dirs (work, run, CNI
 * cache, OCI runtime root) and its own cgroup parent; nothing else on the
 * host is looked at, so another runtime's objects never show up. Read
 * only: it reports, recovery (the next start) cleans. A running daemon
 * makes and removes objects as it goes: one in the middle of a create may
 * show up once.
 */
export interface LeakRoots extends Roots {
  readonly cgroupParent: string;
  /** OCI runtime state roots to look in (`<runDir>/runc` by default). */
  readonly runtimeRoots: readonly string[];
  readonly cniCacheDir: string;
  readonly procRoot?: string;
  readonly cgroupRoot?: string;
  readonly mountinfo?: string;
}

export interface Leak {
  readonly kind: 'runtime-state' | 'monitor-file' | 'shm' | 'netns' | 'network-record' | 'rootfs' | 'mount' | 'cgroup' | 'process' | 'quarantined';
  readonly path: string;
  readonly why: string;
}

const ls = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

const under = (path: string, dir: string): boolean => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** The sandbox and container ids this instance's checkpoints name. */
function knownIds(r: LeakRoots): { sandboxes: Set<string>; containers: Set<string> } {
  const sandboxes = new Set(ls(sandboxesDir(r)));
  const containers = new Set<string>();
  for (const s of sandboxes) for (const c of ls(containersDir(r, s))) containers.add(c);
  return { sandboxes, containers };
}

export function findLeaks(r: LeakRoots): Leak[] {
  const { sandboxes, containers } = knownIds(r);
  const known = (id: string): boolean => sandboxes.has(id) || containers.has(id);
  const out: Leak[] = [];
  const add = (kind: Leak['kind'], path: string, why: string): void => void out.push({ kind, path, why });

  for (const root of r.runtimeRoots) for (const id of ls(root)) if (!known(id)) add('runtime-state', join(root, id), 'OCI runtime state of no known sandbox or container');
  for (const dir of [exitsDir(r), socketsDir(r)]) for (const id of ls(dir)) if (!containers.has(id)) add('monitor-file', join(dir, id), 'monitor file of no known container');
  for (const id of ls(join(r.runDir, 'shm'))) if (!sandboxes.has(id)) add('shm', shmDir(r, id), 'shm dir of no known sandbox');
  for (const id of ls(join(r.runDir, 'netns'))) if (!sandboxes.has(id)) add('netns', join(r.runDir, 'netns', id), 'network namespace pin of no known sandbox');
  for (const f of ls(join(r.cniCacheDir, 'sandboxes'))) {
    const id = f.replace(/\.json$/, '');
    if (!sandboxes.has(id)) add('network-record', join(r.cniCacheDir, 'sandboxes', f), 'CNI record of no known sandbox (its IP lease is still held)');
  }
  const rootfses = join(r.workDir, 'provisioner', 'containers');
  for (const s of ls(rootfses)) {
    if (!sandboxes.has(s)) add('rootfs', join(rootfses, s), 'rootfs dir of no known sandbox');
    else for (const c of ls(join(rootfses, s, 'containers'))) if (!containers.has(c)) add('rootfs', join(rootfses, s, 'containers', c), 'rootfs of no known container');
  }
  for (const f of ls(quarantineDir(r))) add('quarantined', join(quarantineDir(r), f), 'unparseable checkpoint moved aside by recovery (inspect, then delete)');

  // Mounts under our dirs that belong to no known object (an id in their path).
  let mountinfo = '';
  try {
    mountinfo = readFileSync(r.mountinfo ?? '/proc/self/mountinfo', 'utf8');
  } catch {
    // no mount table: nothing to say
  }
  for (const { mountPoint: target } of parseMountInfo(mountinfo)) {
    if (!(under(target, r.workDir) || under(target, r.runDir))) continue;
    const ids = target.split('/').filter((p) => /^[0-9a-f]{64}$/.test(p));
    if (ids.length > 0 && !ids.every(known)) add('mount', target, 'mount of no known sandbox or container');
  }

  // Cgroups of pods under our own parent that no sandbox accounts for.
  const cgRoot = r.cgroupRoot ?? '/sys/fs/cgroup';
  const hierarchies = existsSync(join(cgRoot, 'cgroup.controllers')) ? [cgRoot] : ls(cgRoot).map((h) => join(cgRoot, h));
  const parent = r.cgroupParent.replace(/^\/+|\/+$/g, '');
  for (const h of hierarchies) {
    for (const id of ls(join(h, parent))) {
      if (/^[0-9a-f]{64}$/.test(id) && !sandboxes.has(id)) add('cgroup', join(h, parent, id), 'pod cgroup of no known sandbox');
    }
  }

  // Monitors of bundles under our work dir whose container is not known.
  const procRoot = r.procRoot ?? '/proc';
  for (const pid of ls(procRoot).filter((p) => /^\d+$/.test(p))) {
    let cmd = '';
    try {
      cmd = readFileSync(join(procRoot, pid, 'cmdline'), 'utf8');
    } catch {
      continue;
    }
    const bundle = conmonBundle(cmd);
    if (!bundle || !under(bundle, sandboxesDir(r))) continue;
    const id = bundle.split('/').at(-2) ?? '';
    if (!known(id)) add('process', join(procRoot, pid), `monitor of ${bundle}, a bundle of no known container`);
  }
  return out;
}

/** The report `check --leaks` prints: one leak a line, then a count. */
export function formatLeaks(leaks: readonly Leak[]): string {
  const lines = leaks.map((l) => `${l.kind}\t${l.path}\t${l.why}`);
  lines.push(leaks.length === 0 ? 'no leftovers' : `${leaks.length} leftover${leaks.length === 1 ? '' : 's'}`);
  return lines.join('\n') + '\n';
}
