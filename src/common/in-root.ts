import { constants } from 'node:fs';
import { lstat, open, readlink, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { isErrno } from './fsutil';

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

/** Linux `O_PATH` (Node does not export it): an fd that names an inode without opening it. */
const O_PATH = 0o10000000;

/**
 * Reads a regular file of a rootfs on a pod's behalf (the image's
 * `/etc/passwd`, `/etc/group`): resolved inside `root`, opened `O_PATH |
 * O_NOFOLLOW` first so that a FIFO or a device there is only looked at,
 * never opened (a FIFO would hang a libuv thread, a block device would read
 * the host's disk), then reopened for reading through `/proc/self/fd` (the
 * same inode) with `O_NONBLOCK`, and read up to `maxBytes`. `undefined`
 * when the file does not exist.
 */
export async function readRegularFileInRoot(root: string, unsafePath: string, maxBytes: number): Promise<Buffer | undefined> {
  const fh = await openRegularFileInRoot(root, unsafePath, maxBytes);
  if (!fh) return undefined;
  try {
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > maxBytes) throw Object.assign(new Error(`${unsafePath} is larger than ${maxBytes} bytes`), { code: 'EFBIG' });
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

/**
 * Opens a regular file of `root` for reading, with the checks of
 * `readRegularFileInRoot` (in-root resolution, `O_PATH | O_NOFOLLOW` look
 * first, regular files only, at most `maxBytes` by `fstat`); `undefined`
 * when it does not exist.
 */
export async function openRegularFileInRoot(root: string, unsafePath: string, maxBytes: number): Promise<FileHandle | undefined> {
  const host = await resolveInRoot(root, unsafePath);
  let pathFd: FileHandle;
  try {
    pathFd = await open(host, O_PATH | constants.O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw err;
  }
  try {
    const st = await pathFd.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${unsafePath} is not a regular file`), { code: 'EINVAL' });
    if (st.size > maxBytes) throw Object.assign(new Error(`${unsafePath} is larger than ${maxBytes} bytes`), { code: 'EFBIG' });
    return await open(`/proc/self/fd/${pathFd.fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
  } finally {
    await pathFd.close();
  }
}
