import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';

import type { Backend, LayerRef } from './backend';
import { destroyBackendDir, hasOwnFilesystem, mountFs } from './mounts';

/**
 * Mesos `OverlayBackend`: the shared extracted layers are the lower dirs, a
 * per-container upper and work dir take the writes. Lower dirs are passed as
 * short symlinks (`links/<n>`) so that deep images fit in the one page the
 * kernel accepts for mount options (as Mesos does).
 */
export class OverlayBackend implements Backend {
  constructor(readonly name: 'overlay' | 'aufs' = 'overlay') {}

  writable(dir: string): string {
    return join(dir, 'upper');
  }

  async provision(layers: readonly LayerRef[], dir: string, ctx: Ctx): Promise<string> {
    if (layers.length === 0) throw new CriError('InvalidArgument', 'failed to provision rootfs: image has no layers');
    const rootfs = join(dir, 'rootfs');
    if (hasOwnFilesystem(rootfs)) return rootfs;
    // Small local metadata calls, made directly rather than through libuv's pool.
    const links = join(dir, 'links');
    rmSync(links, { recursive: true, force: true });
    for (const d of ['rootfs', 'upper', 'work', 'links']) mkdirSync(join(dir, d), { recursive: true });
    for (let i = 0; i < layers.length; i++) symlinkSync(layers[i]!.rootfs, join(links, String(i)));
    // overlayfs lists lower dirs top first.
    const lower = layers.map((_l, i) => join(links, String(i))).reverse();
    const opts =
      this.name === 'overlay'
        ? `lowerdir=${lower.join(':')},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`
        : `br=${join(dir, 'upper')}=rw:${lower.map((l) => `${l}=ro+wh`).join(':')},dio`;
    if (opts.length > 4000) throw new CriError('FailedPrecondition', `failed to provision rootfs: ${layers.length} layers exceed the mount option size`);
    await mountFs({ source: this.name, target: rootfs, fstype: this.name, data: opts }, ctx);
    return rootfs;
  }

  destroy(dir: string, ctx: Ctx): Promise<boolean> {
    return destroyBackendDir(dir, ctx);
  }
}

/** Mesos `AufsBackend`: the same shape with an aufs branch list; only where the kernel has aufs. */
export const aufsBackend = (): OverlayBackend => new OverlayBackend('aufs');
