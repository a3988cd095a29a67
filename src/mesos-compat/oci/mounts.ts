import { mkdir, readFile, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { CriError } from '../../common/errors';
import { isErrno } from '../../common/fsutil';
import type { Ctx } from '../../common/ctx';
import { parseMountInfo, type MountInfoEntry } from '../../common/mountinfo';
import type { Mount, Propagation } from '../launch-config';
import type { OciMount, RootfsPropagation } from './types';

/**
 * Mounts of a container's OCI spec, after containerd's `oci/mounts.go` and
 * CRI's `WithMounts`: the kernel filesystems every container gets, the pod's
 * shared files, then the client's binds sorted by depth. `/run` is not
 * mounted (containerd's `WithoutRunMount`): images own it.
 */

export interface SandboxFiles {
  /** Host paths in the sandbox directory; an empty string leaves that file alone. */
  readonly hostname: string;
  readonly hosts: string;
  readonly resolvConf: string;
  /** Host dir of the sandbox's 64 MiB tmpfs, or '' for a private tmpfs. */
  readonly shm: string;
}

const NO_EXEC = ['nosuid', 'noexec', 'nodev'];

/** The kernel filesystems; privileged containers see /sys and cgroups writable (containerd `WithPrivileged`). */
export function systemMounts(opts: { privileged: boolean; shm: string }): OciMount[] {
  const sysMode = opts.privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: [...NO_EXEC] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    opts.shm
      ? { destination: '/dev/shm', type: 'bind', source: opts.shm, options: ['rbind', 'rprivate', 'rw'] }
      : { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: [...NO_EXEC, 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: [...NO_EXEC] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: [...NO_EXEC, sysMode] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...NO_EXEC, 'relatime', sysMode] },
  ];
}

/** The pod-wide /etc files, bound into each container; read-only with a read-only rootfs (as containerd). */
export function podFileMounts(files: SandboxFiles, readonly: boolean): OciMount[] {
  const mode = readonly ? 'ro' : 'rw';
  const out: OciMount[] = [];
  for (const [destination, source] of [
    ['/etc/hostname', files.hostname],
    ['/etc/hosts', files.hosts],
    ['/etc/resolv.conf', files.resolvConf],
  ] as const) {
    if (source) out.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate', mode] });
  }
  return out;
}

const PROPAGATION: Record<Propagation, 'rprivate' | 'rslave' | 'rshared'> = {
  private: 'rprivate',
  rslave: 'rslave',
  rshared: 'rshared',
};

export interface ClientMounts {
  readonly mounts: OciMount[];
  /** Set when a bind wants events to flow, which needs the rootfs itself to be slave or shared. */
  readonly rootfsPropagation?: RootfsPropagation;
}

/** Reads a mountinfo table; injected so tests can describe any host. */
export type MountInfoReader = (ctx: Ctx) => Promise<string>;
export const readSelfMountInfo: MountInfoReader = (ctx) => readFile('/proc/self/mountinfo', { encoding: 'utf8', signal: ctx.signal });

/**
 * Validates and translates CRI mounts. A missing host path is created as a
 * directory (`hostSource`). Symlinks in the host path are resolved here, on
 * the host, where they mean what the client meant.
 */
export async function clientMounts(mounts: readonly Mount[], ctx: Ctx, mountInfo: MountInfoReader = readSelfMountInfo): Promise<ClientMounts> {
  const out: OciMount[] = [];
  let rootfsPropagation: RootfsPropagation | undefined;
  let table: MountInfoEntry[] | undefined;
  for (const [i, m] of mounts.entries()) {
    if (m.hostPath === '') throw new CriError('InvalidArgument', `failed to mount mounts[${i}].host_path: empty`);
    const source = await hostSource(m.hostPath, `mounts[${i}].host_path`);
    const propagation = PROPAGATION[m.propagation];
    if (propagation === undefined) {
      throw new CriError('InvalidArgument', `failed to mount mounts[${i}].propagation: unknown mode ${String(m.propagation)}`);
    }
    if (propagation !== 'rprivate') {
      table ??= parseMountInfo(await mountInfo(ctx));
      checkHostPropagation(table, source, propagation, i);
      if (propagation === 'rshared') rootfsPropagation = 'rshared';
      else if (rootfsPropagation !== 'rshared') rootfsPropagation = 'rslave';
    }
    out.push({
      // A relative path means one below the container's root, as runc (and so containerd) reads it.
      destination: posix.join('/', m.containerPath),
      type: 'bind',
      source,
      options: ['rbind', propagation, m.readonly ? 'ro' : 'rw'],
    });
  }
  return rootfsPropagation ? { mounts: out, rootfsPropagation } : { mounts: out };
}

/**
 * The resolved host path of a bind, created first when missing, the way
 * containerd's `WithMounts` does (`MkdirAll(path, 0755)`): kubelet's hostPath
 * volumes of the default type rely on the runtime making the directory.
 * Missing components are made one at a time with mkdir(2), which never
 * follows a symlink at the name it creates; an existing component must be a
 * directory (or a link to one, which is what the host path says). A dangling
 * symlink is refused rather than followed, so nothing is ever created
 * anywhere but at the path as named.
 */
async function hostSource(hostPath: string, field: string): Promise<string> {
  const fail = (why: string, cause?: unknown): CriError =>
    new CriError('InvalidArgument', `failed to mount ${field} "${hostPath}": ${why}`, cause === undefined ? undefined : { cause });
  if (!hostPath.startsWith('/')) throw fail('not an absolute path');
  try {
    return await realpath(hostPath);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw fail('cannot resolve it', err);
  }
  let dir = '';
  for (const part of hostPath.split('/').filter(Boolean)) {
    dir = `${dir}/${part}`;
    try {
      await mkdir(dir, { mode: 0o755 });
      continue;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw fail(`cannot create ${dir}`, err);
    }
    const st = await stat(dir).catch((err: unknown) => {
      throw fail(`${dir} is a dangling symbolic link`, err);
    });
    if (!st.isDirectory()) throw fail(`${dir} exists and is not a directory`);
  }
  return realpath(hostPath).catch((err: unknown) => {
    throw fail('cannot resolve it', err);
  });
}

/**
 * A shared (or slave) bind only propagates anything if the host mount under
 * it is shared (or at least a slave); containerd refuses the request
 * otherwise (`ensureShared`, `ensureSharedOrSlave`) rather than silently
 * giving a private mount, and so do we.
 */
function checkHostPropagation(table: readonly MountInfoEntry[], source: string, want: 'rslave' | 'rshared', i: number): void {
  let best: MountInfoEntry | undefined;
  for (const e of table) {
    const under = e.mountPoint === '/' || source === e.mountPoint || source.startsWith(e.mountPoint + '/');
    // Later entries with the same mount point are mounted on top; they win ties.
    if (under && (!best || e.mountPoint.length >= best.mountPoint.length)) best = e;
  }
  if (!best) return;
  const shared = best.optional.some((o) => o.startsWith('shared:'));
  const slave = best.optional.some((o) => o.startsWith('master:'));
  if (want === 'rshared' && !shared) {
    throw new CriError('InvalidArgument', `failed to mount mounts[${i}].propagation: ${source} is on mount ${best.mountPoint}, which is not a shared mount`);
  }
  if (want === 'rslave' && !shared && !slave) {
    throw new CriError('InvalidArgument', `failed to mount mounts[${i}].propagation: ${source} is on mount ${best.mountPoint}, which is neither shared nor slave`);
  }
}

/** Number of path components; fewer is shallower. */
const depth = (p: string): number => posix.normalize(p).split('/').filter(Boolean).length;

/**
 * Client mounts override defaults at the same destination, and a client
 * `/dev` drops every default below `/dev`. The client's mounts come last,
 * sorted by depth (stable), so `/a` is mounted before `/a/b` and never hides it.
 */
export function mergeMounts(defaults: readonly OciMount[], client: readonly OciMount[]): OciMount[] {
  const taken = new Set(client.map((m) => posix.normalize(m.destination)));
  const kept = defaults.filter((m) => {
    const dst = posix.normalize(m.destination);
    if (taken.has(dst)) return false;
    return !(taken.has('/dev') && dst.startsWith('/dev/'));
  });
  const sorted = client.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i);
  return [...kept, ...sorted.map((x) => x.m)];
}
