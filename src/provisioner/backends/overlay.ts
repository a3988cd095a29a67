import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';

import type { Backend, LayerRef } from './backend';
import { hasOwnFilesystem, Mounter } from './mounts';

/** mount(2) copies one page of options; keep a margin. */
const MAX_MOUNT_DATA = 4000;

/**
 * Each lower dir once, at its topmost place: overlayfs refuses a directory
 * twice (ELOOP), and a layer repeated higher up hides everything its lower
 * copy provides, so the lower copy adds nothing.
 */
export function topmostOnce(bottomFirst: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = bottomFirst.length - 1; i >= 0; i--) {
    if (seen.has(bottomFirst[i]!)) continue;
    seen.add(bottomFirst[i]!);
    out.push(bottomFirst[i]!);
  }
  return out.reverse();
}

/**
 * Mesos `OverlayBackend`: the shared extracted layers are the lower dirs, a
 * per-container upper and work dir take the writes. Lower dirs are passed as
 * short symlinks (`links/<n>`) so that deep images fit in the one page the
 * kernel accepts for mount options (as Mesos does).
 */
export class OverlayBackend implements Backend {
  constructor(
    readonly name: 'overlay' | 'aufs' = 'overlay',
    private readonly mounter = new Mounter(),
  ) {}

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
    const lower = topmostOnce(layers.map((l) => l.rootfs));
    for (let i = 0; i < lower.length; i++) symlinkSync(lower[i]!, join(links, String(i)));
    // overlayfs lists lower dirs top first.
    const names = lower.map((_l, i) => String(i)).reverse();
    const rest = this.name === 'overlay' ? `upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}` : '';
    const opts =
      this.name === 'overlay'
        ? `lowerdir=${names.map((n) => join(links, n)).join(':')},${rest}`
        : `br=${join(dir, 'upper')}=rw:${names.map((n) => `${join(links, n)}=ro+wh`).join(':')},dio`;
    if (opts.length <= MAX_MOUNT_DATA) {
      await this.mounter.mountFs({ source: this.name, target: rootfs, fstype: this.name, data: opts }, ctx);
      return rootfs;
    }
    // Too long for the one page mount(2) takes: lower dirs relative to the links
    // directory, with mount(8) run there (containerd's snapshotter does the same).
    const short = this.name === 'overlay' ? `lowerdir=${names.join(':')},${rest}` : `br=${join(dir, 'upper')}=rw:${names.map((n) => `${n}=ro+wh`).join(':')},dio`;
    if (short.length > MAX_MOUNT_DATA) throw new CriError('FailedPrecondition', `failed to provision rootfs: ${layers.length} layers exceed the mount option size`);
    await this.mounter.exec('mount', ['-t', this.name, this.name, '-o', short, rootfs], ctx, { cwd: links });
    return rootfs;
  }

  destroy(dir: string, ctx: Ctx): Promise<boolean> {
    return this.mounter.destroyBackendDir(dir, ctx);
  }
}

/** Mesos `AufsBackend`: the same shape with an aufs branch list; only where the kernel has aufs. */
export const aufsBackend = (mounter?: Mounter): OverlayBackend => new OverlayBackend('aufs', mounter);
