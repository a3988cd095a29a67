import { closeSync, constants, fstatSync, lstatSync, openSync, read, readlinkSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { promisify } from 'node:util';
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
  return resolveInRootSync(root, unsafePath);
}

/**
 * `resolveInRoot` without the thread pool: a few `lstat`s of a rootfs's
 * dentries (the kernel's cache; never a wait on a device or a FIFO), each
 * of which would otherwise cost an event-loop turn on a busy daemon.
 */
export function resolveInRootSync(root: string, unsafePath: string): string {
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
      isLink = lstatSync(candidate).isSymbolicLink();
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
    const target = readlinkSync(candidate);
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
  const f = openRegularFdInRoot(root, unsafePath, maxBytes);
  if (f === undefined) return undefined;
  try {
    // Sized by fstat, one byte over to see growth. A small file (a passwd, a
    // manifest) is read at once; a big one through the thread pool.
    const buf = Buffer.alloc(Math.min(f.size, maxBytes) + 1);
    const readAt = f.size <= SYNC_READ_BYTES ? (at: number): number => readSync(f.fd, buf, at, buf.length - at, at) : async (at: number) => (await readAsync(f.fd, buf, at, buf.length - at, at)).bytesRead;
    for (let n = 0; ; ) {
      const got = await readAt(n);
      if (got === 0) return buf.subarray(0, n);
      n += got;
      if (n > maxBytes) throw tooLarge(unsafePath, maxBytes);
      if (n === buf.length) throw Object.assign(new Error(`${unsafePath} grew while it was read`), { code: 'EAGAIN' });
    }
  } finally {
    closeSync(f.fd);
  }
}

/** Files up to this size are read without the thread pool (a few pages of the page cache). */
const SYNC_READ_BYTES = 64 << 10;

const readAsync = promisify(read);

const tooLarge = (unsafePath: string, maxBytes: number): Error => Object.assign(new Error(`${unsafePath} is larger than ${maxBytes} bytes`), { code: 'EFBIG' });

/**
 * The checks of `readRegularFileInRoot` up to an fd open for reading:
 * resolved inside `root`, looked at through `O_PATH | O_NOFOLLOW`, a regular
 * file of at most `maxBytes` (fstat), reopened `O_RDONLY | O_NONBLOCK`
 * through `/proc/self/fd`. All metadata, no wait: synchronous.
 */
function openRegularFdInRoot(root: string, unsafePath: string, maxBytes: number): { fd: number; size: number } | undefined {
  const host = resolveInRootSync(root, unsafePath);
  let pathFd: number;
  try {
    pathFd = openSync(host, O_PATH | constants.O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw err;
  }
  try {
    const st = fstatSync(pathFd);
    if (!st.isFile()) throw Object.assign(new Error(`${unsafePath} is not a regular file`), { code: 'EINVAL' });
    if (st.size > maxBytes) throw tooLarge(unsafePath, maxBytes);
    return { fd: openSync(`/proc/self/fd/${pathFd}`, constants.O_RDONLY | constants.O_NONBLOCK), size: st.size };
  } finally {
    closeSync(pathFd);
  }
}

/**
 * Opens a regular file of `root` for reading, with the checks of
 * `readRegularFileInRoot` (in-root resolution, `O_PATH | O_NOFOLLOW` look
 * first, regular files only, at most `maxBytes` by `fstat`); `undefined`
 * when it does not exist.
 */
export async function openRegularFileInRoot(root: string, unsafePath: string, maxBytes: number): Promise<FileHandle | undefined> {
  const fd = openRegularFdInRoot(root, unsafePath, maxBytes);
  if (fd === undefined) return undefined;
  try {
    return await open(`/proc/self/fd/${fd.fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
  } finally {
    closeSync(fd.fd);
  }
}
