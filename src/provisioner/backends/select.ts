import { mkdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Ctx } from '../../common/ctx';
import { CriError, describeError } from '../../common/errors';
import { log } from '../../common/log';
import type { BackendName } from '../types';
import type { Backend } from './backend';
import { BindBackend } from './bind';
import { CopyBackend } from './copy';
import { Mounter } from './mounts';
import { OverlayBackend, aufsBackend } from './overlay';

/**
 * Backend validity per file system, after Mesos (`provisioner.cpp`
 * `validateBackend`, `docs/container-image.md`): overlay is refused on
 * btrfs, aufs, overlay, zfs and ecryptfs and where the file system lacks
 * `d_type`; aufs only where the kernel has it and not on aufs; bind and copy
 * always. `auto` picks overlay, then aufs, then copy.
 */
const MAGIC: Record<number, string> = {
  0x9123683e: 'btrfs',
  0x61756673: 'aufs',
  0x794c7630: 'overlay',
  0x2fc12fc1: 'zfs',
  0xf15f: 'ecryptfs',
  0xef53: 'ext4',
  0x01021994: 'tmpfs',
  0x58465342: 'xfs',
};

export async function fsTypeOf(dir: string): Promise<string> {
  const s = await statfs(dir);
  return MAGIC[Number(s.type)] ?? `0x${Number(s.type).toString(16)}`;
}

async function kernelHas(fs: string): Promise<boolean> {
  const text = await readFile('/proc/filesystems', 'utf8');
  return text.split('\n').some((l) => l.trim().split(/\s+/).pop() === fs);
}

/** `d_type` support: ext4 and tmpfs always; xfs only when formatted with `ftype=1`. */
async function hasDType(dir: string, fsType: string, ctx: Ctx, mounter: Mounter): Promise<boolean> {
  if (fsType !== 'xfs') return true;
  const r = await mounter.exec('xfs_info', [dir], ctx, { check: false }).catch(() => undefined);
  return r === undefined || !/ftype=0/.test(r.stdout.toString());
}

/** Why `name` cannot be used for `dir`, or `undefined` when it can. */
export async function unusable(name: BackendName, dir: string, ctx: Ctx, mounter: Mounter): Promise<string | undefined> {
  const fsType = await fsTypeOf(dir);
  switch (name) {
    case 'copy':
    case 'bind':
      return undefined;
    case 'aufs':
      if (!(await kernelHas('aufs'))) return 'the kernel has no aufs';
      if (fsType === 'aufs') return `aufs cannot sit on ${fsType}`;
      return undefined;
    case 'overlay': {
      if (!(await kernelHas('overlay'))) return 'the kernel has no overlayfs';
      if (['btrfs', 'aufs', 'overlay', 'zfs', 'ecryptfs'].includes(fsType)) return `overlayfs is not supported on ${fsType}`;
      if (!(await hasDType(dir, fsType, ctx, mounter))) return `${fsType} at ${dir} lacks d_type support (xfs needs ftype=1)`;
      return probeOverlay(dir, ctx, mounter);
    }
  }
}

/** One real overlay mount: catches what the table cannot (e.g. no permission to mount). */
async function probeOverlay(dir: string, ctx: Ctx, mounter: Mounter): Promise<string | undefined> {
  const p = join(dir, `.probe-${randomBytes(4).toString('hex')}`);
  try {
    for (const d of ['l', 'u', 'w', 'm']) await mkdir(join(p, d), { recursive: true });
    await writeFile(join(p, 'l', 'f'), 'x');
    await mounter.mount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${join(p, 'l')},upperdir=${join(p, 'u')},workdir=${join(p, 'w')}`, join(p, 'm')], ctx);
    return undefined;
  } catch (err) {
    return `a test overlay mount failed: ${describeError(err)}`;
  } finally {
    await mounter.unmountAll(p, ctx).catch(() => undefined);
    await rm(p, { recursive: true, force: true });
  }
}

export function makeBackend(name: BackendName, mounter: Mounter): Backend {
  switch (name) {
    case 'overlay':
      return new OverlayBackend('overlay', mounter);
    case 'aufs':
      return aufsBackend(mounter);
    case 'bind':
      return new BindBackend(mounter);
    case 'copy':
      return new CopyBackend(mounter);
  }
}

/** The configured backend, validated; a forced one that cannot work is a startup error. */
export async function selectBackend(wanted: 'auto' | BackendName, dir: string, ctx: Ctx, mounter: Mounter): Promise<Backend> {
  await mkdir(dir, { recursive: true });
  if (wanted !== 'auto') {
    const why = await unusable(wanted, dir, ctx, mounter);
    if (why !== undefined) throw new CriError('FailedPrecondition', `failed to use image backend "${wanted}" for ${dir}: ${why}`);
    return makeBackend(wanted, mounter);
  }
  for (const name of ['overlay', 'aufs', 'copy'] as const) {
    const why = await unusable(name, dir, ctx, mounter);
    if (why === undefined) return makeBackend(name, mounter);
    log.info({ backend: name, reason: why }, 'image backend not usable');
  }
  return makeBackend('copy', mounter);
}
