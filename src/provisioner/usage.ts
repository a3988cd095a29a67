import { lstatSync, opendirSync, type Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
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

export async function diskUsage(root: string, seen = new Set<string>(), budget = SYNC_WALK_BUDGET): Promise<DiskUsage> {
  const out: DiskUsage = { bytes: 0n, inodes: 0n };
  let rootDev: number;
  try {
    rootDev = lstatSync(root).dev;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return out;
    throw err;
  }
  /** Counts `st` once; true when it is a directory to descend into. */
  const count = (st: Stats): boolean => {
    if (st.dev !== rootDev) return false;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return false;
    seen.add(key);
    out.bytes += BigInt(st.blocks) * 512n;
    out.inodes += 1n;
    return st.isDirectory();
  };
  // Depth first, synchronously, an entry at a time until the budget is
  // spent; what is left (paths, and directories whose listing was cut) is
  // walked through the pool, where `seen` skips what was counted already.
  const left: string[] = [root];
  const cut: string[] = [];
  while (left.length > 0 && budget > 0) {
    const path = left.pop()!;
    budget--;
    const dir = ignoreGone(() => (count(lstatSync(path)) ? opendirSync(path) : undefined), undefined);
    if (!dir) continue;
    try {
      for (let e; budget > 0 && (e = ignoreGone(() => dir.readSync(), null)) !== null; budget--) left.push(join(path, e.name));
      if (budget <= 0) cut.push(path);
    } finally {
      dir.closeSync();
    }
  }
  const walk = async (path: string): Promise<void> => {
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    if (!count(st)) return;
    let names: string[];
    try {
      names = await readdir(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    // Bounded fan-out keeps big trees from opening thousands of requests at once.
    for (let i = 0; i < names.length; i += 64) await Promise.all(names.slice(i, i + 64).map((n) => walk(join(path, n))));
  };
  const children = async (dir: string): Promise<string[]> => (await readdir(dir).catch((err: unknown) => (isErrno(err, 'ENOENT') ? [] : Promise.reject(err)))).map((n) => join(dir, n));
  for (const dir of cut) left.push(...(await children(dir)));
  for (let i = 0; i < left.length; i += 64) await Promise.all(left.slice(i, i + 64).map((p) => walk(p)));
  return out;
}

function ignoreGone<T>(fn: () => T, gone: T): T {
  try {
    return fn();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return gone;
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
