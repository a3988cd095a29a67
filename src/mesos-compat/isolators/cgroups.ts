import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseMountInfo } from '../../common/mountinfo';
import type { SpawnServer } from '../../common/spawn-server';
import { isErrno } from '../../common/fsutil';
import type { OciResources } from '../oci/types';
import { cgroupDetailV1, type CgroupDetail } from './cgroup-detail';
import { detectCgroupLayout, type CgroupLayout } from './cgroup-layout';
import { applyLimitsV1, checkUnified } from './cgroup-limits';
import type { CgroupTree } from './cgroup-tree';
import { CgroupfsV2 } from './cgroup-v2';
import { ownProcsFile, readBig, readStat, rmTree, workingSet, type CgroupUsage } from './cgroup-fs';
import { expandSlice, isSystemdCgroupsPath, resolveSystemdCgroupsPath, systemdCgroupsPath, type SystemdManager } from './systemd-cgroups';

export type { CgroupUsage } from './cgroup-fs';

/**
 * cgroup v1 (and hybrid hosts, where runc's cgroupfs manager uses only the
 * v1 hierarchies): one directory per mounted hierarchy under `root`.
 */
export class CgroupfsV1 implements CgroupTree {
  readonly #root: string;
  readonly #mountInfo: () => string;
  #controllers: Set<string> | undefined;

  constructor(root: string, mountInfo: () => string) {
    this.#root = root;
    this.#mountInfo = mountInfo;
  }

  /**
   * With the cgroupfs driver on a v1 or hybrid host, runc only uses v1
   * hierarchies: a controller that is bound to the v2 mount there (hugetlb
   * on this kind of host) cannot be set, and runc fails the whole container
   * ("cannot set hugetlb limit").
   */
  has(controller: string): boolean {
    this.#controllers ??= v1Controllers(this.#mountInfo());
    return this.#controllers.has(controller);
  }

  async usage(path: string, nowNs: bigint): Promise<CgroupUsage> {
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

  detail(path: string): Promise<CgroupDetail> {
    return cgroupDetailV1(this.#root, path);
  }

  applyLimits(path: string, r: OciResources): void {
    applyLimitsV1(this.#root, path, r);
  }

  #hierarchies: Promise<string[]> | undefined;

  /** The hierarchies are read once. */
  async dirs(path: string): Promise<string[]> {
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
   * What `runc` does for `cgroupsPath`. A new cpuset cgroup starts with no
   * CPUs and no memory nodes, which refuses every task: each new level gets
   * its parent's, as runc and the kernel's `clone_children` do.
   *
   * cgroupfs lives in memory: its calls are made directly, which costs a
   * tenth of a trip through libuv's thread pool each.
   */
  async create(path: string): Promise<string[]> {
    const dirs = await this.dirs(path);
    for (const dir of dirs) {
      const cpuset = dir.startsWith(join(this.#root, 'cpuset') + '/');
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

  async remove(path: string): Promise<void> {
    for (const dir of await this.dirs(path)) await rmTree(dir);
  }

  ownProcs(): string | null {
    return ownProcsFile(this.#root, false);
  }
}

/**
 * The cgroups isolator's reading side (Mesos `cgroups/{cpu,mem}`): limits
 * are written by the OCI runtime from the spec's `cgroupsPath`; usage is
 * read here from cgroupfs. The layout decides the implementation: the v2
 * unified tree when the root is a cgroup2 mount (it has
 * `cgroup.controllers`), else the v1 hierarchies (v1 and hybrid hosts).
 */
export class Cgroups {
  /** The daemon's spawn server, for `warmMigrations`. */
  readonly #server: SpawnServer | undefined;
  readonly v2: boolean;
  readonly #mountInfo: () => string;
  readonly #tree: CgroupTree;

  /** With the systemd driver: the manager that starts and stops units (see `systemd-cgroups.ts`). */
  readonly #systemd: SystemdManager | undefined;

  /**
   * `mountInfo` is a test seam: the mount table the v1 hierarchies are
   * looked up in. `systemd` selects the systemd driver: pod cgroups are then
   * slices and container cgroups `slice:prefix:id` scopes.
   */
  constructor(
    root = '/sys/fs/cgroup',
    mountInfo: () => string = () => readFileSync('/proc/self/mountinfo', 'utf8'),
    server?: SpawnServer,
    systemd?: SystemdManager,
  ) {
    this.#server = server;
    this.v2 = existsSync(join(root, 'cgroup.controllers'));
    this.#mountInfo = mountInfo;
    this.#tree = this.v2 ? new CgroupfsV2(root) : new CgroupfsV1(root, mountInfo);
    this.#systemd = systemd;
  }

  get driver(): 'cgroupfs' | 'systemd' {
    return this.#systemd ? 'systemd' : 'cgroupfs';
  }

  /**
   * A pod's cgroup when kubelet names none: `<parent>/<id>` (cgroupfs), or
   * the slice `<parent without .slice>-pod<id>.slice` (systemd; systemd
   * makes a slice when a unit first names it).
   */
  podPath(parent: string, id: string): string {
    if (!this.#systemd) return `${parent.replace(/\/+$/, '')}/${id}`;
    const base = parent === '-.slice' ? '' : parent.replace(/\.slice$/, '');
    const slice = `${base === '' ? '' : `${base}-`}pod${id}.slice`;
    expandSlice(slice);
    return slice;
  }

  /** A cgroup parent kubelet names: with systemd it must be a slice name (InvalidArgument otherwise). */
  checkParent(parent: string): string {
    if (this.#systemd) expandSlice(parent);
    return parent;
  }

  /** A container's (or the infra process's) cgroup in pod cgroup `pod`: `<pod>/<id>` or runc's `<slice>:mesos-cri:<id>`. */
  childPath(pod: string, id: string): string {
    return this.#systemd ? systemdCgroupsPath(pod, id) : `${pod}/${id}`;
  }

  /** The cgroupfs path (relative to the root) a cgroupfs path, slice or `slice:prefix:id` names. */
  #fs(path: string): string {
    if (!this.#systemd) return path;
    if (isSystemdCgroupsPath(path)) return resolveSystemdCgroupsPath(path).fsPath;
    if (path.endsWith('.slice') && !path.includes('/')) return expandSlice(path);
    return path;
  }

  /**
   * Places `pid` (started by the daemon, not by runc) in `path`. With the
   * systemd driver this starts the transient scope `path` names with it
   * (`Delegate=yes`); with cgroupfs the process moved itself already.
   */
  async adopt(path: string, pid: number, description: string): Promise<void> {
    if (!this.#systemd || !isSystemdCgroupsPath(path)) return;
    const { slice, unit } = resolveSystemdCgroupsPath(path);
    await this.#systemd.startScope(unit, slice, [pid], undefined, description);
  }

  #layout: CgroupLayout | undefined;

  /** v1, hybrid (v1 hierarchies plus a cgroup2 mount below the root) or unified. */
  get layout(): CgroupLayout {
    this.#layout ??= this.v2 ? 'unified' : detectCgroupLayout(this.#mountInfo(), () => undefined, '/sys/fs/cgroup').layout === 'hybrid' ? 'hybrid' : 'v1';
    return this.#layout;
  }

  /** Whether containers can be limited by `controller` (read once); on v2 the root must offer it. */
  has(controller: string): boolean {
    return this.#tree.has(controller);
  }

  usage(path: string, nowNs: bigint): Promise<CgroupUsage> {
    return this.#tree.usage(this.#fs(path), nowNs);
  }

  /** What cAdvisor reads beyond `usage` (the CRI metrics RPCs). */
  detail(path: string): Promise<CgroupDetail> {
    return this.#tree.detail(this.#fs(path));
  }

  /** Refuses `unified` keys this host cannot take or that are not interface files (InvalidArgument). */
  checkUnified(unified: Readonly<Record<string, string>> | undefined): void {
    checkUnified(unified, this.v2);
  }

  /** Writes limits into `path`'s existing cgroups (a pod's: no OCI runtime owns it). */
  applyLimits(path: string, r: OciResources): void {
    this.#tree.applyLimits(this.#fs(path), r);
  }

  /** Directories of `path` in every hierarchy (one on v2). */
  dirs(path: string): Promise<string[]> {
    return this.#tree.dirs(this.#fs(path));
  }

  /**
   * Creates `path` in every hierarchy and returns its directories (what
   * `runc` does for `cgroupsPath`). A systemd scope is made by `adopt`,
   * once it has a process: none here.
   */
  async create(path: string): Promise<string[]> {
    if (this.#systemd) return [];
    return this.#tree.create(path);
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
    this.#ownProcs ??= this.#tree.ownProcs();
    if (this.#ownProcs) server.warm(this.#ownProcs, ms);
  }

  /** SIGKILLs every process left in `path`'s cgroups (an infra process the daemon lost track of). */
  killAll(path: string): Promise<void> {
    return this.#tree.killAll(this.#fs(path));
  }

  /** Removes an (empty) cgroup everywhere; idempotent. Children are removed first. */
  async remove(path: string): Promise<void> {
    if (this.#systemd) {
      const unit = isSystemdCgroupsPath(path) ? resolveSystemdCgroupsPath(path).unit : path.endsWith('.slice') && !path.includes('/') ? path : undefined;
      if (unit) await this.#systemd.stopUnit(unit);
    }
    await this.#tree.remove(this.#fs(path));
  }
}

/** Controllers of the mounted v1 hierarchies: the super options of `cgroup` mounts in a mountinfo table. */
export function v1Controllers(mountInfo: string): Set<string> {
  const out = new Set<string>();
  for (const e of parseMountInfo(mountInfo)) if (e.fsType === 'cgroup') for (const opt of e.superOptions) out.add(opt);
  return out;
}

