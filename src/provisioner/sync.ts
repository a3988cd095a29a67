/**
 * Small concurrency primitives the provisioner needs beyond `KeyedMutex`.
 */

/** Bounds how many tasks run at once (parallel layer downloads). */
export class Semaphore {
  #free: number;
  #waiting: Array<() => void> = [];

  constructor(permits: number) {
    this.#free = Math.max(1, permits);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

/**
 * A read/write lock: provision and destroy share it, prune takes it
 * exclusively (Mesos provisioner `rwLock`). Writers are not starved: a
 * waiting writer blocks new readers.
 */
export class RwLock {
  #readers = 0;
  #writer = false;
  #queue: Array<{ write: boolean; wake: () => void }> = [];

  async read<T>(fn: () => Promise<T>): Promise<T> {
    await this.#acquire(false);
    try {
      return await fn();
    } finally {
      this.#readers--;
      this.#drain();
    }
  }

  async write<T>(fn: () => Promise<T>): Promise<T> {
    await this.#acquire(true);
    try {
      return await fn();
    } finally {
      this.#writer = false;
      this.#drain();
    }
  }

  #acquire(write: boolean): Promise<void> {
    if (this.#queue.length === 0 && !this.#writer && (write ? this.#readers === 0 : true)) {
      if (write) this.#writer = true;
      else this.#readers++;
      return Promise.resolve();
    }
    return new Promise<void>((wake) => this.#queue.push({ write, wake }));
  }

  #drain(): void {
    while (this.#queue.length > 0 && !this.#writer) {
      const head = this.#queue[0]!;
      if (head.write) {
        if (this.#readers > 0) return;
        this.#queue.shift();
        this.#writer = true;
        head.wake();
        return;
      }
      this.#queue.shift();
      this.#readers++;
      head.wake();
    }
  }
}

/** Shares one in-flight promise per key: concurrent pulls of a layer download it once. */
export class Inflight<T> {
  #running = new Map<string, Promise<T>>();

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.#running.get(key);
    if (existing) return existing;
    const p = fn().finally(() => this.#running.delete(key));
    this.#running.set(key, p);
    return p;
  }
}
