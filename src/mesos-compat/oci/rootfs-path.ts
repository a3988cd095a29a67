import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { isErrno } from '../../common/fsutil';

/** Linux's own limit on symlinks followed during one lookup (`MAXSYMLINKS`). */
const MAX_SYMLINKS = 40;

/**
 * Resolves `unsafePath` as if `root` were `/`: symlinks are followed but an
 * absolute target restarts at `root` and `..` never climbs above it, so an
 * image cannot point `/etc/passwd` (or a volume path) at a host file. This is
 * the rule of `filepath-securejoin`, which runc and containerd use for the
 * same job. Components that do not exist are kept literally; the result is a
 * host path inside `root`.
 *
 * NOTE: the answer is only as good as the moment it was computed; callers use
 * it on a rootfs nobody else is changing yet (before the container starts).
 */
export async function resolveInRoot(root: string, unsafePath: string): Promise<string> {
  const base = posix.resolve(root);
  let pending = splitPath(unsafePath);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = posix.join(base, ...done, part);
    let isLink = false;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw Object.assign(new Error(`too many levels of symbolic links resolving ${unsafePath}`), { code: 'ELOOP' });
    }
    const target = await readlink(candidate);
    if (target.startsWith('/')) done.length = 0;
    pending = [...splitPath(target), ...pending];
  }
  return posix.join(base, ...done);
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}
