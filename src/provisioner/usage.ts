import { closeSync, constants, fstatSync, lstat, lstatSync, open, openSync, opendirSync, type Dir, type Stats } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { isErrno } from '../common/fsutil';

/**
 * Disk usage of a tree like `du`: allocated bytes (`st_blocks * 512`) and
 * inodes, each hardlinked inode counted once, never following symlinks or
 * crossing into other mounts.
 */
export interface DiskUsage {
  bytes: bigint;
  inodes: bigint;
}

/**
 * Entries looked at without the thread pool before the walk goes on through
 * it: a fresh writable layer (a handful of entries) is measured in one go,
 * while a big tree (a hostile container can make millions) never holds the
 * event loop for long.
 */
export const SYNC_WALK_BUDGET = 256;

/** Directory fds a walk holds along its path; deeper ones are reopened through `..` on the way back. */
export const WALK_KEEP_OPEN = 32;

export interface WalkOptions {
  /** Entries looked at synchronously (default `SYNC_WALK_BUDGET`). */
  readonly budget?: number;
  /** Directory fds held along the path (default `WALK_KEEP_OPEN`, at least 1). */
  readonly keepOpen?: number;
  /** Called with a directory's path under the root (names joined by `/`) once its listing is read: tests race the walk here. */
  readonly listed?: (rel: string) => void;
}

const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const openP = promisify(open);
const lstatP = promisify(lstat);
/** A name inside the directory open as `fd`: only the last component is resolved, and never followed. */
const at = (fd: number, name: Buffer | string): Buffer => Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), Buffer.from(name)]);

interface Frame {
  /** Closed (undefined) while the walk is deeper than `keepOpen` below it. */
  fd: number | undefined;
  readonly dev: number;
  readonly ino: number;
  readonly rel: string;
  /** Subdirectories not walked yet. */
  readonly dirs: Buffer[];
}

/**
 * The walk is confined to the tree under `root` although the tree is a
 * hostile container's writable layer, changing while it is walked: every
 * directory is opened `O_NOFOLLOW` by one name relative to its parent's fd
 * and listed through that fd, so a directory swapped for a symlink (or
 * moved away) after it was looked at steers nothing; names are bytes, so a
 * name that is not UTF-8 is counted too. The way back up from below
 * `keepOpen` opens `..` and checks it is the directory it left (device and
 * inode); a subtree moved under the walk is left uncounted.
 */
export async function diskUsage(root: string, seen = new Set<string>(), o: WalkOptions = {}): Promise<DiskUsage> {
  const out: DiskUsage = { bytes: 0n, inodes: 0n };
  const keep = Math.max(1, o.keepOpen ?? WALK_KEEP_OPEN);
  let budget = o.budget ?? SYNC_WALK_BUDGET;
  /** One step of the walk: synchronous while the budget lasts, then through the pool. */
  const step = <T>(now: () => T, later: () => Promise<T>): T | Promise<T> => (budget-- > 0 ? now() : later());
  let rootDev = -1;
  /** Counts `st` once (on the root's device); false when it is not to be counted or descended. */
  const count = (st: Stats): boolean => {
    if (st.dev !== rootDev) return false;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return false;
    seen.add(key);
    out.bytes += BigInt(st.blocks) * 512n;
    out.inodes += 1n;
    return true;
  };
  const countOne = async (path: Buffer | string): Promise<void> => {
    const st = await ignoreGone(() => step(() => lstatSync(path), () => lstatP(path)));
    if (st) count(st);
  };
  /** An fd on a directory, or what to do instead: count it as it is ('other'), or skip it ('gone'). */
  const openDir = async (path: Buffer | string): Promise<number | 'other' | 'gone'> => {
    try {
      return await step(() => openSync(path, O_DIR), () => openP(path, O_DIR));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return 'gone';
      if (isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) return 'other';
      throw err;
    }
  };
  const stack: Frame[] = [];
  /** Lists the directory open as `fd`, counts what is not a directory, and pushes it to be walked. */
  const enter = async (fd: number, st: Stats, rel: string): Promise<void> => {
    const frame: Frame = { fd, dev: st.dev, ino: st.ino, rel, dirs: [] };
    stack.push(frame);
    const others: Buffer[] = [];
    const dir = await ignoreGone(() => step<Dir>(() => opendirSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' as BufferEncoding, bufferSize: 128 }), () => opendir(`/proc/self/fd/${fd}`, { encoding: 'buffer' as BufferEncoding, bufferSize: 128 })));
    if (dir) {
      try {
        for (let e; (e = await step(() => dir.readSync(), () => dir.read())) !== null; ) {
          const name = e.name as unknown as Buffer;
          // A type the filesystem does not give is found out by the open.
          (e.isDirectory() || !(e.isFile() || e.isSymbolicLink() || e.isFIFO() || e.isSocket() || e.isCharacterDevice() || e.isBlockDevice()) ? frame.dirs : others).push(name);
        }
      } finally {
        dir.closeSync();
      }
    }
    o.listed?.(rel);
    // Bounded fan-out keeps a big directory from opening thousands of requests at once.
    for (let i = 0; i < others.length; i += 64) await Promise.all(others.slice(i, i + 64).map((n) => countOne(at(fd, n))));
  };

  const top = await openDir(root);
  if (top === 'gone') return out;
  if (top === 'other') {
    const st = await ignoreGone(() => lstatSync(root));
    if (st) (rootDev = st.dev), count(st);
    return out;
  }
  const rootSt = fstatSync(top);
  rootDev = rootSt.dev;
  count(rootSt);
  try {
    await enter(top, rootSt, '');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      const name = frame.dirs.pop();
      if (name === undefined) {
        stack.pop();
        const parent = stack[stack.length - 1];
        if (parent && parent.fd === undefined && !(frame.fd !== undefined && reopen(frame.fd, parent))) {
          // Moved away under the walk: what is left of it is not ours to find again.
          while (stack.length > 0 && stack[stack.length - 1].fd === undefined) stack.pop();
        }
        if (frame.fd !== undefined) closeSync(frame.fd);
        continue;
      }
      const parentFd = frame.fd!;
      const fd = await openDir(at(parentFd, name));
      if (fd === 'gone') continue;
      if (fd === 'other') {
        await countOne(at(parentFd, name));
        continue;
      }
      const st = fstatSync(fd);
      if (!count(st) || !st.isDirectory()) {
        closeSync(fd);
        continue;
      }
      if (stack.length > keep) {
        closeSync(parentFd);
        frame.fd = undefined;
      }
      await enter(fd, st, frame.rel ? `${frame.rel}/${name.toString()}` : name.toString());
    }
  } finally {
    for (const f of stack) if (f.fd !== undefined) closeSync(f.fd);
  }
  return out;
}

/** Opens `..` of the directory open as `fd` into `parent` if it is still `parent`'s directory. */
function reopen(fd: number, parent: Frame): boolean {
  let up: number;
  try {
    up = openSync(`/proc/self/fd/${fd}/..`, O_DIR);
  } catch {
    return false;
  }
  const st = fstatSync(up);
  if (st.dev !== parent.dev || st.ino !== parent.ino) {
    closeSync(up);
    return false;
  }
  parent.fd = up;
  return true;
}

async function ignoreGone<T>(fn: () => T | Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

export interface DiskUsageCacheOptions {
  /** A value younger than this is served as is (default 2 s). */
  readonly freshMs?: number;
  /**
   * A value younger than this is served while a walk refreshes it in the
   * background; older ones are walked before answering (default 10 s,
   * containerd's `stats_collect_period` for its snapshot usage).
   */
  readonly maxAgeMs?: number;
  /** Walks at once, across every key (default 2). */
  readonly concurrency?: number;
  readonly now?: () => number;
  readonly walk?: (dir: string) => Promise<DiskUsage>;
}

interface Entry {
  at: number;
  value?: DiskUsage;
  pending?: Promise<DiskUsage>;
}

/**
 * Writable-layer sizes for the stats RPCs, as containerd keeps snapshot
 * usage: a walk per layer at most every `freshMs`, bounded in number, never
 * one per container per call. `delete` forgets a layer (its container is
 * gone); a walk that finishes after that is dropped.
 */
export class DiskUsageCache {
  readonly #entries = new Map<string, Entry>();
  readonly #fresh: number;
  readonly #maxAge: number;
  readonly #now: () => number;
  readonly #walk: (dir: string) => Promise<DiskUsage>;
  readonly #limit: number;
  #running = 0;
  readonly #queue: Array<() => void> = [];

  constructor(o: DiskUsageCacheOptions = {}) {
    this.#fresh = o.freshMs ?? 2_000;
    this.#maxAge = o.maxAgeMs ?? 10_000;
    this.#limit = Math.max(1, o.concurrency ?? 2);
    this.#now = o.now ?? Date.now;
    this.#walk = o.walk ?? ((dir) => diskUsage(dir));
  }

  get(key: string, dir: string): Promise<DiskUsage> {
    const e = this.#entries.get(key);
    const age = e?.value ? this.#now() - e.at : Infinity;
    if (e?.value && age < this.#fresh) return Promise.resolve(e.value);
    if (e?.value && age < this.#maxAge) {
      // Stale but usable: answer now, refresh behind (a failed refresh keeps the old value).
      if (!e.pending) this.#refresh(key, dir, e).catch(() => undefined);
      return Promise.resolve(e.value);
    }
    const entry = e ?? { at: 0 };
    if (!e) this.#entries.set(key, entry);
    return entry.pending ?? this.#refresh(key, dir, entry);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  #refresh(key: string, dir: string, e: Entry): Promise<DiskUsage> {
    const p = this.#bounded(() => this.#walk(dir)).then(
      (value) => {
        if (this.#entries.get(key) === e) {
          e.value = value;
          e.at = this.#now();
        }
        if (e.pending === p) delete e.pending;
        return value;
      },
      (err: unknown) => {
        if (e.pending === p) delete e.pending;
        if (!e.value && this.#entries.get(key) === e) this.#entries.delete(key);
        throw err;
      },
    );
    e.pending = p;
    return p;
  }

  async #bounded<T>(fn: () => Promise<T>): Promise<T> {
    // A woken waiter inherits the finishing walk's slot.
    if (this.#running >= this.#limit) await new Promise<void>((r) => this.#queue.push(r));
    else this.#running++;
    try {
      return await fn();
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
