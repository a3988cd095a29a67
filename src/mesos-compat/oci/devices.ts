import { lstat, readdir, stat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { posix } from 'node:path';
import { CriError } from '../../common/errors';
import { isErrno } from '../../common/fsutil';
import type { Ctx } from '../../common/ctx';
import type { Device } from '../launch-config';
import type { OciDevice, OciDeviceCgroup } from './types';

/**
 * Device nodes and the device cgroup. Everything is denied first (as
 * containerd's default spec); runc and crun then allow and create the
 * runtime-spec's default devices (/dev/null, zero, full, random, urandom,
 * tty, ptmx, console) themselves. CRI devices add nodes and allow rules;
 * privileged containers get every host device and no cgroup restriction.
 */

export const DENY_ALL: OciDeviceCgroup = { allow: false, access: 'rwm' };
export const ALLOW_ALL: OciDeviceCgroup = { allow: true, access: 'rwm' };

const S_IFMT = 0o170000n;
const S_IFCHR = 0o020000n;
const S_IFBLK = 0o060000n;

/** The kernel's `new_encode_dev` split of `st_rdev` (glibc `gnu_dev_major`/`minor`). */
export function majorMinor(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

function toDevice(path: string, st: BigIntStats): OciDevice | undefined {
  const fmt = st.mode & S_IFMT;
  if (fmt !== S_IFCHR && fmt !== S_IFBLK) return undefined;
  return {
    type: fmt === S_IFCHR ? 'c' : 'b',
    path,
    ...majorMinor(st.rdev),
    fileMode: Number(st.mode & 0o777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

export interface DeviceSet {
  readonly devices: OciDevice[];
  readonly cgroup: OciDeviceCgroup[];
}

/**
 * CRI devices: a node maps to one device; a directory maps every node below
 * it (containerd's `WithDevices` does the same for GPU directories).
 */
export async function clientDevices(devices: readonly Device[], ctx: Ctx): Promise<DeviceSet> {
  const out: DeviceSet = { devices: [], cgroup: [] };
  for (const [i, d] of devices.entries()) {
    ctx.signal.throwIfAborted();
    if (!d.containerPath.startsWith('/')) {
      throw new CriError('InvalidArgument', `failed to add devices[${i}].container_path "${d.containerPath}": not an absolute path`);
    }
    const access = d.permissions === '' ? 'rwm' : d.permissions;
    if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) {
      throw new CriError('InvalidArgument', `failed to add devices[${i}].permissions "${d.permissions}": expected a combination of r, w and m`);
    }
    let st: BigIntStats;
    try {
      st = await stat(d.hostPath, { bigint: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
        throw new CriError('NotFound', `failed to add devices[${i}].host_path "${d.hostPath}": not found`, { cause: err });
      }
      throw new CriError('InvalidArgument', `failed to add devices[${i}].host_path "${d.hostPath}"`, { cause: err });
    }
    const found = st.isDirectory()
      ? (await walkDevices(d.hostPath, new Set(), ctx)).map((dev) => ({
          ...dev,
          path: posix.join(d.containerPath, posix.relative(d.hostPath, dev.path)),
        }))
      : [toDevice(posix.normalize(d.containerPath), st)].filter((x): x is OciDevice => x !== undefined);
    if (found.length === 0) {
      throw new CriError('InvalidArgument', `failed to add devices[${i}].host_path "${d.hostPath}": not a device`);
    }
    for (const dev of found) {
      out.devices.push(dev);
      out.cgroup.push({ allow: true, type: dev.type === 'b' ? 'b' : 'c', major: dev.major, minor: dev.minor, access });
    }
  }
  return out;
}

/** Skipped when privileged containers take all of /dev, as containerd's `HostDevices`. */
const HOST_DEV_SKIP = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev', 'console']);

/** Every device node under the host's `/dev`, at the same paths, for privileged containers. */
export async function hostDevices(ctx: Ctx, root = '/dev'): Promise<OciDevice[]> {
  return walkDevices(root, HOST_DEV_SKIP, ctx);
}

async function walkDevices(dir: string, skip: ReadonlySet<string>, ctx: Ctx): Promise<OciDevice[]> {
  ctx.signal.throwIfAborted();
  const out: OciDevice[] = [];
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return out;
    throw err;
  }
  for (const name of names) {
    if (skip.has(name)) continue;
    const path = posix.join(dir, name);
    let st: BigIntStats;
    try {
      st = await lstat(path, { bigint: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue; // devices come and go
      throw err;
    }
    if (st.isDirectory()) out.push(...(await walkDevices(path, new Set(), ctx)));
    else {
      const dev = toDevice(path, st);
      if (dev) out.push(dev);
    }
  }
  return out;
}
