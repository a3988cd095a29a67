import { mkdirSync, renameSync } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { nested, topLevel } from '../common/container-id';
import { sweepCtx } from '../common/ctx';
import type { Exec } from '../common/exec';
import { isErrno } from '../common/fsutil';
import { log } from '../common/log';
import { removeTree } from '../common/remove-tree';
import type { Cgroups } from './isolators/cgroups';
import type { OciRuntime } from './oci-runtime';
import { containerDir, SANDBOX_TOMBSTONE, sandboxDir, sandboxTombstone, sandboxTombstonesDir, tombstoneDir, tombstonesDir, type Roots } from './paths';
import type { RootfsProvisioner } from './rootfs-provisioner';

/** What the sweeper uses of the containerizer's `Core` (which owns it; core.ts imports this file). */
export interface SweeperHost {
  readonly roots: Roots;
  readonly deps: {
    readonly runtime: Pick<OciRuntime, 'delete'>;
    readonly provisioner: Pick<RootfsProvisioner, 'destroy'>;
    readonly cgroups: Pick<Cgroups, 'remove' | 'podPath'>;
    readonly cgroupParent: string;
    /** Runs the `rm` of a swept tree (`removeTree`). */
    readonly exec: Exec;
  };
  readonly sandboxes: ReadonlyMap<string, unknown>;
  removeMonitorFiles(id: string): Promise<void>;
}

/** What a buried sandbox's sweep removes besides its dir. */
export interface BuriedSandbox {
  readonly id: string;
  /** The pod cgroup when it is ours to remove (kubelet's stays). */
  readonly ownedPodCgroup?: string;
}

interface Buried {
  readonly sandboxId: string;
  readonly id: string;
}

/** Sweeps at once: the runtime's delete is a process, the rootfs an unmount and a tree removal. */
const CONCURRENCY = 2;
/** A sweep that failed is tried again once after this; after that, at the next start. */
const RETRY_MS = 2_000;

/**
 * RemoveContainer's deferred teardown, as containerd leaves snapshots to its
 * GC. `bury` moves the container's dir out of its sandbox in one rename:
 * from then on no checkpoint names the container, so a daemon killed at any
 * later point never brings it back, and recovery's own passes (orphaned
 * runtime state, rootfses of unknown containers) plus `recover` here finish
 * what the sweep had not done. The sweep deletes the runtime's state and
 * cgroups, destroys the rootfs and removes the monitor's files, in
 * parallel, then the tombstone.
 */
export class Sweeper {
  readonly #pending = new Map<string, { readonly sandboxId: string; readonly done: Promise<void> }>();
  /** Removed sandboxes being swept, by id. */
  readonly #pods = new Map<string, Promise<void>>();
  readonly #queue: Array<() => void> = [];
  #running = 0;
  /** Runtime deletes begun when a stop saw the process exit (containerd deletes its task then, too). */
  readonly #early = new Map<string, Promise<boolean>>();

  constructor(private readonly core: SweeperHost) {}

  /**
   * A stopped container's runtime state and cgroups are of no further use
   * (its status lives in our record): delete them now, behind StopContainer's
   * reply, so that RemoveContainer's sweep, or its sandbox's removal, has
   * less to wait for. Failures are left to the sweep.
   */
  exited(id: string): void {
    if (this.#early.has(id)) return;
    const p = this.core.deps.runtime.delete(id, sweepCtx()).catch((err: unknown) => {
      log.debug({ err, containerId: id }, 'early runtime delete failed; the sweep retries');
      return false;
    });
    this.#early.set(id, p);
    // Forgotten after a while if the container is never removed (the sweep then deletes on its own).
    void p.then(() => setTimeout(() => this.#early.get(id) === p && this.#early.delete(id), 60_000).unref());
  }

  /** Moves the container's dir to its tombstone and queues its sweep; resolves once the rename is done. */
  async bury(sandboxId: string, id: string): Promise<void> {
    const roots = this.core.roots;
    const dest = tombstoneDir(roots, sandboxId, id);
    // Never checkpointed (a dir made and lost): nothing moved, but the tombstone is made, so the sweep (or `recover`) still runs.
    if (!(await entomb(containerDir(roots, sandboxId, id), dest))) mkdirSync(dest, { recursive: true });
    this.#enqueue({ sandboxId, id });
  }

  /** Resolves once the sweeps of `sandboxId`'s containers are done, each in its turn (its own teardown must not race them). */
  async #settle(sandboxId: string): Promise<void> {
    await Promise.all([...this.#pending.values()].filter((p) => p.sandboxId === sandboxId).map((p) => p.done));
  }

  /**
   * RemovePodSandbox's deferred teardown, after its containers were buried:
   * the sandbox's dir moves to `tombstones/<id>/.sandbox` in one rename (no
   * checkpoint names the sandbox from then on), and the rest goes behind the
   * reply: its containers' sweeps, the provisioner's per-sandbox dir, the pod
   * cgroup when it is ours, then the whole tombstone. A daemon killed before
   * that finishes it in `recover`.
   */
  async buryPod(sb: BuriedSandbox): Promise<void> {
    // Never written (a launch that failed early): nothing to move, the sweep still runs.
    await entomb(sandboxDir(this.core.roots, sb.id), sandboxTombstone(this.core.roots, sb.id));
    this.#sweepPod(sb);
  }

  /** Waits for every queued sweep, removed sandboxes' included. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0 || this.#pods.size > 0) {
      await Promise.all([...[...this.#pending.values()].map((p) => p.done), ...this.#pods.values()]);
    }
  }

  #sweepPod(sb: BuriedSandbox): void {
    if (this.#pods.has(sb.id)) return;
    const run = async (): Promise<void> => {
      await replied();
      const { deps, roots } = this.core;
      // Its containers' rootfses and cgroups sit below the sandbox's: theirs go first, in their turn
      // (nobody waits on them, so they keep the bound on concurrent sweeps).
      await this.#settle(sb.id);
      const ctx = sweepCtx();
      await deps.provisioner.destroy(topLevel(sb.id), ctx);
      if (sb.ownedPodCgroup) await deps.cgroups.remove(sb.ownedPodCgroup);
      await removeTree(sandboxTombstonesDir(roots, sb.id), ctx, deps.exec);
    };
    const done = retryOnce(run, 'a removed sandbox', { sandboxId: sb.id }).finally(() => this.#pods.delete(sb.id));
    this.#pods.set(sb.id, done);
  }

  /** Queues the sweep of every tombstone a previous daemon left (after `recover` has run). */
  async recover(): Promise<number> {
    let n = 0;
    for (const sandboxId of await list(tombstonesDir(this.core.roots))) {
      const entries = await list(sandboxTombstonesDir(this.core.roots, sandboxId));
      const ids = entries.filter((e) => e !== SANDBOX_TOMBSTONE);
      const podGone = entries.includes(SANDBOX_TOMBSTONE);
      // An empty one of a sandbox that is gone: nothing left to sweep.
      if (ids.length === 0 && !podGone && !this.core.sandboxes.has(sandboxId)) await rmdir(sandboxTombstonesDir(this.core.roots, sandboxId)).catch(() => undefined);
      for (const id of ids) {
        if (this.#pending.has(id)) continue;
        this.#enqueue({ sandboxId, id });
        n++;
      }
      if (podGone && !this.core.sandboxes.has(sandboxId)) {
        // Its record is in the tombstone no more: an owned pod cgroup is the one derived from its id (kubelet's is not ours).
        const { deps } = this.core;
        this.#sweepPod({ id: sandboxId, ownedPodCgroup: deps.cgroups.podPath(deps.cgroupParent, sandboxId) });
        n++;
      }
    }
    if (n > 0) log.info({ tombstones: n }, 'finishing the removal of containers removed before the restart');
    return n;
  }

  #enqueue(b: Buried): void {
    // Assigned before the body can finish: `#acquire` always yields first.
    let done: Promise<void> | undefined = undefined;
    done = (async (): Promise<void> => {
      await replied();
      await this.#acquire();
      try {
        await retryOnce(() => this.#sweep(b), 'a removed container', { containerId: b.id });
      } finally {
        this.#release();
        if (this.#pending.get(b.id)?.done === done) this.#pending.delete(b.id);
      }
    })();
    this.#pending.set(b.id, { sandboxId: b.sandboxId, done });
  }

  async #sweep({ sandboxId, id }: Buried): Promise<void> {
    const { deps, roots } = this.core;
    const ctx = sweepCtx();
    // Independent: the process is gone, so its runtime state, its rootfs mount and the monitor's files can go at once.
    const early = this.#early.get(id);
    const runtimeGone = (early ?? Promise.resolve(false)).then(() => deps.runtime.delete(id, ctx));
    await Promise.all([runtimeGone, deps.provisioner.destroy(nested(topLevel(sandboxId), id), ctx), this.core.removeMonitorFiles(id)]);
    this.#early.delete(id);
    // The sandbox's tombstone dir stays: its sandbox's sweep or `recover` takes it.
    await removeTree(tombstoneDir(roots, sandboxId, id), ctx, deps.exec);
  }

  /** A slot among `CONCURRENCY`. */
  #acquire(): Promise<void> {
    if (this.#running < CONCURRENCY) {
      this.#running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#queue.push(resolve));
  }

  /** A finishing sweep hands its slot to the next one queued. */
  #release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#running--;
  }
}

/**
 * Moves `src` to `dest` in one rename, `dest`'s parent made first; a stale
 * `dest` (a sweep cut short) is cleared and the rename tried again. False
 * when there is nothing at `src`. Made directly, not through libuv's pool,
 * which the sweeps keep busy: a rename is microseconds.
 */
async function entomb(src: string, dest: string): Promise<boolean> {
  mkdirSync(dirname(dest), { recursive: true });
  const move = (): boolean => {
    try {
      renameSync(src, dest);
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  };
  try {
    return move();
  } catch (err) {
    if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
  }
  await rm(dest, { recursive: true, force: true });
  return move();
}

/**
 * Resolves after the current turn of the event loop: a sweep queued by a
 * removal begins once the removal's reply is on its way, not in the
 * microtasks that would otherwise run ahead of it.
 */
const replied = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Runs a sweep, and once more after `RETRY_MS` if it fails; what still fails is left to the next start. Never rejects. */
async function retryOnce(sweep: () => Promise<void>, what: string, ids: Record<string, string>): Promise<void> {
  try {
    await sweep();
  } catch (err) {
    log.warn({ err, ...ids }, `failed to sweep ${what}; retrying`);
    await new Promise((r) => setTimeout(r, RETRY_MS));
    await sweep().catch((err2: unknown) => log.warn({ err: err2, ...ids }, `failed to sweep ${what}; the next start will`));
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}
