import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseMountInfo } from '../../common/mountinfo';
import type { SpawnServer } from '../../common/spawn-server';
import { isErrno } from '../../common/fsutil';
import type { OciResources } from '../oci/types';
import { cgroupDetailV1, cgroupDetailV2, type CgroupDetail } from './cgroup-detail';
import { applyLimitsV1, applyLimitsV2, checkUnified } from './cgroup-limits';

/** CPU and memory of one cgroup, as CRI `CpuUsage`/`MemoryUsage` want them. */
export interface CgroupUsage {
  readonly timestampNs: bigint;
  readonly cpuUsageNs?: bigint;
  readonly memoryUsageBytes?: bigint;
  /** usage minus inactive file pages, what kubelet evicts on (cadvisor's definition). */
  readonly memoryWorkingSetBytes?: bigint;
  readonly memoryRssBytes?: bigint;
  readonly pageFaults?: bigint;
  readonly majorPageFaults?: bigint;
}

/**
 * cgroupfs lives in memory: its files are read directly (a tenth of the
 * cost of a trip through libuv's thread pool), each once per `usage`.
 */
function readBig(file: string): bigint | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return text === '' || text === 'max' ? undefined : BigInt(text.split(/\s+/)[0]!);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENODEV')) return undefined;
    throw err;
  }
}

function readStat(file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const sp = line.indexOf(' ');
      if (sp <= 0) continue;
      const v = line.slice(sp + 1);
      if (/^\d+$/.test(v)) out.set(line.slice(0, sp), BigInt(v));
    }
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENODEV')) throw err;
  }
  return out;
}

/**
 * The cgroups isolator's reading side (Mesos `cgroups/{cpu,mem}`): limits
 * are written by the OCI runtime from the spec's `cgroupsPath`; usage is
 * read here from cgroupfs, v1 or v2.
 */
export class Cgroups {
  readonly #root: string;
  /** The daemon's spawn server, for `warmMigrations`. */
  readonly #server: SpawnServer | undefined;
  readonly v2: boolean;
  readonly #mountInfo: () => string;
  readonly #controllers = new Map<string, boolean>();

  /** `mountInfo` is a test seam: the mount table the v1 hierarchies are looked up in. */
  constructor(
    root = '/sys/fs/cgroup',
    mountInfo: () => string = () => readFileSync('/proc/self/mountinfo', 'utf8'),
    server?: SpawnServer,
  ) {
    this.#root = root;
    this.#server = server;
    this.v2 = existsSync(join(root, 'cgroup.controllers'));
    this.#mountInfo = mountInfo;
  }

  /**
   * Whether containers can be limited by `controller` (read once). With the
   * cgroupfs driver on a v1 or hybrid host, runc only uses v1 hierarchies:
   * a controller that is bound to the v2 mount there (hugetlb on this kind
   * of host) cannot be set, and runc fails the whole container ("cannot
   * set hugetlb limit"). On v2 it must be enabled at the root.
   */
  has(controller: string): boolean {
    let known = this.#controllers.get(controller);
    if (known === undefined) {
      known = this.v2 ? v2Controllers(this.#root).includes(controller) : v1Controllers(this.#mountInfo()).has(controller);
      this.#controllers.set(controller, known);
    }
    return known;
  }

  async usage(path: string, nowNs: bigint): Promise<CgroupUsage> {
    if (this.v2) {
      const dir = join(this.#root, path);
      const cpu = readStat(join(dir, 'cpu.stat'));
      const mem = readStat(join(dir, 'memory.stat'));
      const current = readBig(join(dir, 'memory.current'));
      const usec = cpu.get('usage_usec');
      return {
        timestampNs: nowNs,
        cpuUsageNs: usec === undefined ? undefined : usec * 1000n,
        memoryUsageBytes: current,
        memoryWorkingSetBytes: workingSet(current, mem.get('inactive_file')),
        memoryRssBytes: mem.get('anon'),
        pageFaults: mem.get('pgfault'),
        majorPageFaults: mem.get('pgmajfault'),
      };
    }
    const cpuNs = readBig(join(this.#root, 'cpuacct', path, 'cpuacct.usage'));
    const memDir = join(this.#root, 'memory', path);
    const current = readBig(join(memDir, 'memory.usage_in_bytes'));
    const mem = readStat(join(memDir, 'memory.stat'));
    return {
      timestampNs: nowNs,
      cpuUsageNs: cpuNs,
      memoryUsageBytes: current,
      memoryWorkingSetBytes: workingSet(current, mem.get('total_inactive_file')),
      memoryRssBytes: mem.get('total_rss'),
      pageFaults: mem.get('total_pgfault'),
      majorPageFaults: mem.get('total_pgmajfault'),
    };
  }

  /** What cAdvisor reads beyond `usage` (the CRI metrics RPCs). */
  detail(path: string): Promise<CgroupDetail> {
    return this.v2 ? cgroupDetailV2(this.#root, path) : cgroupDetailV1(this.#root, path);
  }

  /** Refuses `unified` keys this host cannot take or that are not interface files (InvalidArgument). */
  checkUnified(unified: Readonly<Record<string, string>> | undefined): void {
    checkUnified(unified, this.v2);
  }

  /** Writes limits into `path`'s existing cgroups (a pod's: no OCI runtime owns it). */
  applyLimits(path: string, r: OciResources): void {
    if (this.v2) applyLimitsV2(this.#root, path, r);
    else applyLimitsV1(this.#root, path, r);
  }

  #hierarchies: Promise<string[]> | undefined;

  /** Directories of `path` in every hierarchy (one on v2). The hierarchies are read once. */
  async dirs(path: string): Promise<string[]> {
    if (this.v2) return [join(this.#root, path)];
    this.#hierarchies ??= readdir(this.#root, { withFileTypes: true }).then(
      (es) => es.filter((e) => e.isDirectory()).map((e) => join(this.#root, e.name)),
      (err: unknown) => {
        this.#hierarchies = undefined;
        throw err;
      },
    );
    return (await this.#hierarchies).map((h) => join(h, path));
  }

  /**
   * Creates `path` in every hierarchy and returns its directories (what
   * `runc` does for `cgroupsPath`). On v1, a new cpuset cgroup starts with
   * no CPUs and no memory nodes, which refuses every task: each new level
   * gets its parent's, as runc and the kernel's `clone_children` do.
   *
   * cgroupfs lives in memory: its calls are made directly, which costs a
   * tenth of a trip through libuv's thread pool each.
   */
  async create(path: string): Promise<string[]> {
    const dirs = await this.dirs(path);
    for (const dir of dirs) {
      const cpuset = !this.v2 && dir.startsWith(join(this.#root, 'cpuset') + '/');
      if (!cpuset) {
        mkdirSync(dir, { recursive: true });
        continue;
      }
      const levels: string[] = [];
      for (let d = dir; d !== join(this.#root, 'cpuset'); d = dirname(d)) levels.unshift(d);
      for (const level of levels) {
        try {
          mkdirSync(level);
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw err;
        }
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          if (readFileSync(join(level, f), 'utf8').trim() !== '') continue;
          writeFileSync(join(level, f), readFileSync(join(dirname(level), f), 'utf8'));
        }
      }
    }
    return dirs;
  }

  #ownProcs: string | null | undefined;

  /**
   * Keeps the kernel's cgroup migration lock warm for the next `ms` (see
   * native/mesos-cri-spawn.c): a launch calls this first, so that the
   * moves into cgroups it makes later (the infra helper's, runc's) do not
   * each wait out an RCU grace period. Only with the daemon's spawn server.
   */
  warmMigrations(ms = 1000): void {
    const server = this.#server;
    if (!server) return;
    this.#ownProcs ??= ownProcsFile(this.#root, this.v2);
    if (this.#ownProcs) server.warm(this.#ownProcs, ms);
  }

  /** SIGKILLs every process left in `path`'s cgroups (an infra process the daemon lost track of). */
  async killAll(path: string): Promise<void> {
    for (const dir of await this.dirs(path)) {
      let procs = '';
      try {
        procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8');
      } catch {
        // not there
      }
      for (const pid of procs.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  }

  /** Removes an (empty) cgroup everywhere; idempotent. Children are removed first. */
  async remove(path: string): Promise<void> {
    for (const dir of await this.dirs(path)) await rmTree(dir);
  }
}

function v2Controllers(root: string): string[] {
  try {
    return readFileSync(join(root, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
}

/** Controllers of the mounted v1 hierarchies: the super options of `cgroup` mounts in a mountinfo table. */
export function v1Controllers(mountInfo: string): Set<string> {
  const out = new Set<string>();
  for (const e of parseMountInfo(mountInfo)) if (e.fsType === 'cgroup') for (const opt of e.superOptions) out.add(opt);
  return out;
}

function workingSet(usage: bigint | undefined, inactive: bigint | undefined): bigint | undefined {
  if (usage === undefined) return undefined;
  const ws = usage - (inactive ?? 0n);
  return ws < 0n ? 0n : ws;
}

async function rmTree(dir: string): Promise<void> {
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
function ownProcsFile(root: string, v2: boolean): string | null {
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
