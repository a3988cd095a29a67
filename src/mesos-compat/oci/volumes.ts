import { lstat, mkdir } from 'node:fs/promises';
import { posix } from 'node:path';
import { isErrno } from '../../common/fsutil';
import type { Ctx } from '../../common/ctx';
import { resolveInRoot } from './rootfs-path';

/**
 * Image `VOLUME`s that no client mount covers become plain directories in
 * the container's own (writable, per-container) rootfs. containerd gives
 * each an anonymous directory too; since our rootfs is already private to the
 * container, a directory inside it is the same thing without another mount.
 * Paths resolve inside the rootfs, so an image cannot aim one at the host.
 * Returns the host paths it created.
 */
export async function prepareImageVolumes(
  rootfs: string,
  volumes: readonly string[],
  covered: ReadonlySet<string>,
  ctx: Ctx,
): Promise<string[]> {
  const created: string[] = [];
  for (const volume of volumes) {
    ctx.signal.throwIfAborted();
    const dst = posix.normalize(posix.join('/', volume));
    if (dst === '/' || covered.has(dst)) continue;
    const host = await resolveInRoot(rootfs, dst);
    try {
      await lstat(host);
      continue; // the image already has it (a file or a directory): leave it be
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    await mkdir(host, { recursive: true, mode: 0o755 });
    created.push(host);
  }
  return created;
}
