import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { isErrno } from './fsutil';

/** What a read of a kernel file says when what it describes is gone. */
const gone = (err: unknown): boolean => isErrno(err, 'ENOENT') || isErrno(err, 'ENODEV') || isErrno(err, 'ESRCH');

/**
 * Kernel files read again and again (cgroupfs stats, `/proc/<pid>/stat`):
 * each is opened once and then read with one `pread` at offset 0, which
 * regenerates it, a quarter of the cost of open + fstat + read + close.
 * An fd outlives what it was opened on without ever reading something
 * else: a removed cgroup's files answer ENODEV and a dead process's ESRCH,
 * even when a new cgroup or process took the same path; the path is then
 * opened again, once. At most `max` fds are kept (the oldest go first).
 */
export class KeptFiles {
  readonly #fds = new Map<string, number>();
  readonly #buf = Buffer.allocUnsafe(64 * 1024);

  constructor(private readonly max = 1024) {}

  /** The file's content; undefined when it (or what it describes) is gone. Other errors throw. */
  read(path: string): string | undefined {
    for (let attempt = 0; ; attempt++) {
      let fd = this.#fds.get(path);
      const kept = fd !== undefined;
      if (fd === undefined) {
        try {
          fd = openSync(path, 'r');
        } catch (err) {
          if (gone(err)) return undefined;
          throw err;
        }
        if (this.#fds.size >= this.max) this.#close(this.#fds.keys().next().value!);
        this.#fds.set(path, fd);
      }
      try {
        const n = readSync(fd, this.#buf, 0, this.#buf.length, 0);
        // Bigger than the buffer (no cgroup or stat file is): read it whole.
        return n < this.#buf.length ? this.#buf.toString('utf8', 0, n) : readFileSync(path, 'utf8');
      } catch (err) {
        this.#close(path);
        if (kept && attempt === 0 && gone(err)) continue; // stale: the path may name a new one
        if (gone(err)) return undefined;
        throw err;
      }
    }
  }

  /** Closes the fds of `dir` and of everything under it (a cgroup being removed). */
  forget(dir: string): void {
    for (const path of this.#fds.keys()) if (path === dir || path.startsWith(`${dir}/`)) this.#close(path);
  }

  get size(): number {
    return this.#fds.size;
  }

  #close(path: string): void {
    const fd = this.#fds.get(path);
    this.#fds.delete(path);
    if (fd !== undefined) closeSync(fd);
  }
}
