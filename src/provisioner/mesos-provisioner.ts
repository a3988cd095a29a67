import { mkdirSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { checkpoint, readCheckpoint, removeStaleTemps } from '../common/checkpoint';
import { idString, nested, topLevel, type ContainerId } from '../common/container-id';
import { cleanupCtx, type Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import { isErrno } from '../common/fsutil';
import { KeyedMutex } from '../common/keyed-mutex';
import { log } from '../common/log';
import { moveToTrash, removeTree } from '../common/remove-tree';
import { Rollback } from '../common/rollback';
import type { Backend, LayerRef } from './backends/backend';
import { Mounter } from './backends/mounts';
import { makeBackend } from './backends/select';
import { backendDir, containerDir, containersDir, imagesDir, layersCheckpoint, trashDir } from './paths';
import type { DockerStore } from './store/image-store';
import { toRecord } from './store/image-index';
import type { RwLock } from './sync';
import type { BackendName, ImageRecord } from './types';
import { DiskUsageCache } from './usage';

/**
 * The Mesos provisioner (`provisioner.cpp`) over the docker store and one
 * backend. Each container's layer list is checkpointed atomically *before*
 * its rootfs is built, so recovery can always find and destroy a half-made
 * one. Provision and destroy share `lock`; prune and image removal take it
 * exclusively; each container is also serialised on its own.
 */
interface ProvisionedInfo {
  readonly backend: BackendName;
  readonly imageId: string;
  readonly layers: string[];
  readonly rootfs: string;
}

export class MesosProvisioner {
  readonly #containers = new Map<string, ProvisionedInfo>();
  /** Known containers whose layer list could not be read at recovery: until they go, no layer is garbage. */
  readonly #unknownLayers = new Set<string>();
  readonly #perContainer = new KeyedMutex();
  readonly #usage = new DiskUsageCache();

  constructor(
    private readonly workDir: string,
    private readonly backend: Backend,
    private readonly store: DockerStore,
    private readonly lock: RwLock,
    /** For destroying rootfses another backend built (the configured one changed). */
    private readonly mounter: Mounter = new Mounter(),
  ) {}

  layersInUse(): Set<string> | 'unknown' {
    if (this.#unknownLayers.size > 0) return 'unknown';
    const out = new Set<string>();
    for (const c of this.#containers.values()) for (const l of c.layers) out.add(l);
    return out;
  }

  async provision(id: ContainerId, image: string, ctx: Ctx): Promise<{ rootfs: string; image: ImageRecord }> {
    return this.lock.read(() =>
      this.#perContainer.run(idString(id), async () => {
        const stored = this.store.find(image);
        if (!stored) throw new CriError('NotFound', `failed to provision ${idString(id)}: image "${image}" not found`);
        const existing = this.#containers.get(idString(id));
        if (existing) {
          if (existing.imageId !== stored.id)
            throw new CriError('AlreadyExists', `failed to provision ${idString(id)}: already provisioned with ${existing.imageId}`);
          return { rootfs: existing.rootfs, image: toRecord(stored) };
        }
        const layers: LayerRef[] = [];
        for (const l of stored.layers) {
          const meta = await this.store.layers.meta(l.digest);
          if (!meta) throw new CriError('NotFound', `failed to provision ${idString(id)}: layer ${l.digest} of ${image} is missing; pull the image again`);
          layers.push({ rootfs: this.store.layers.rootfs(l.digest), meta });
        }
        const dir = backendDir(this.workDir, id, this.backend.name);
        await using rollback = new Rollback();
        rollback.add('remove container dir', () => this.#remove(id, cleanupCtx()));
        const rootfs = join(dir, 'rootfs');
        const info: ProvisionedInfo = { backend: this.backend.name, imageId: stored.id, layers: stored.layers.map((l) => l.digest), rootfs };
        mkdirSync(dir, { recursive: true });
        // Runtime state, like the containerizer's records: atomic, not fsynced (see `Core.saveSandbox`).
        await checkpoint(layersCheckpoint(this.workDir, id), info, { sync: false });
        await this.backend.provision(layers, dir, ctx);
        this.#containers.set(idString(id), info);
        rollback.commit();
        return { rootfs, image: toRecord(stored) };
      }),
    );
  }

  /** Destroys the rootfs of `id` and of every container nested under it; `false` when unknown. */
  async destroy(id: ContainerId, ctx: Ctx): Promise<boolean> {
    const before = this.layersInUse();
    // Behind a reply (a low-priority ctx) the trees are unmounted and moved
    // to the trash under the lock, and deleted after it: a slow delete must
    // not hold image pulls and removals back.
    const trash: string[] | undefined = ctx.lowPriority ? [] : undefined;
    const removed = await this.lock.read(() => this.#perContainer.run(idString(id), () => this.#remove(id, ctx, trash)));
    for (const t of trash ?? []) await removeTree(t, ctx, this.mounter.exec);
    if (removed && before !== 'unknown') this.#collectFreed(before);
    return removed;
  }

  /**
   * Layers that only removed containers still used (their image was removed
   * while they ran, or before RemoveContainer's sweep got to them) are
   * collected now, not left until the next image removal.
   */
  #collectFreed(before: ReadonlySet<string>): void {
    const inUse = this.layersInUse();
    // While some rootfs's layers cannot be told, no layer is garbage.
    if (inUse === 'unknown') return;
    const referenced = new Set(this.store.index.all().flatMap((s) => s.layers.map((l) => l.digest)));
    if (![...before].some((l) => !inUse.has(l) && !referenced.has(l))) return;
    void this.lock
      .write(() => this.store.gc(this.layersInUse(), cleanupCtx()))
      .catch((err: unknown) => log.warn({ err }, 'failed to collect the layers of removed containers'));
  }

  /** Unmounts and removes a container's tree, its nested containers' first; with `trash`, moves it there instead of removing it. */
  async #remove(id: ContainerId, ctx: Ctx, trash?: string[]): Promise<boolean> {
    const dir = containerDir(this.workDir, id);
    try {
      await stat(dir);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      this.#containers.delete(idString(id));
      return false;
    }
    for (const child of await subdirs(join(dir, 'containers'))) await this.#remove(nested(id, child), ctx, trash);
    if (trash) {
      // What every backend's destroy does first; its delete waits for the caller.
      await this.mounter.unmountAll(dir, ctx);
      const to = moveToTrash(dir, trashDir(this.workDir), `${id.value}-`);
      if (to) trash.push(to);
    } else {
      for (const b of await subdirs(join(dir, 'backends'))) {
        const backend = b === this.backend.name ? this.backend : makeBackend(b as BackendName, this.mounter);
        await backend.destroy(join(dir, 'backends', b), ctx);
      }
      await rm(dir, { recursive: true, force: true });
    }
    this.#containers.delete(idString(id));
    this.#unknownLayers.delete(idString(id));
    this.#usage.delete(idString(id));
    return true;
  }

  /** Keeps the rootfses of `known` containers and destroys every other one (Mesos `recover`). */
  async recover(known: readonly ContainerId[], ctx: Ctx): Promise<void> {
    // A kill mid-checkpoint leaves the temp file of its rename; one behind a removal's reply, a tree in the trash (unmounted).
    await removeStaleTemps(imagesDir(this.workDir));
    await rm(trashDir(this.workDir), { recursive: true, force: true });
    await this.store.recover();
    const keep = new Set(known.map(idString));
    const visit = async (id: ContainerId): Promise<void> => {
      if (!keep.has(idString(id))) {
        log.info({ containerId: idString(id) }, 'destroying unknown container rootfs');
        await this.#remove(id, ctx);
        return;
      }
      await removeStaleTemps(containerDir(this.workDir, id));
      // Fail safe: a rootfs whose layer list cannot be read keeps every layer.
      try {
        const info = await readCheckpoint<ProvisionedInfo>(layersCheckpoint(this.workDir, id));
        if (info) this.#containers.set(idString(id), info);
        else if ((await subdirs(join(containerDir(this.workDir, id), 'backends'))).length > 0) throw new Error('a rootfs without its layers checkpoint');
      } catch (err) {
        log.error({ err, containerId: idString(id) }, 'the layers of a container rootfs are unknown: no layer is garbage-collected until it is removed');
        this.#unknownLayers.add(idString(id));
      }
      for (const child of await subdirs(join(containerDir(this.workDir, id), 'containers'))) await visit(nested(id, child));
    };
    for (const top of await subdirs(containersDir(this.workDir))) await visit(topLevel(top));
    // Start-up GC: layers and blobs no image references (a pull or import cut
    // short by a crash, a removal that did not finish), now that every kept
    // rootfs's layers are known. Never fatal: the store is only larger.
    await this.lock
      .write(() => this.store.gc(this.layersInUse(), ctx))
      .catch((err: unknown) => log.warn({ err }, 'failed to garbage-collect image content at start-up'));
  }

  /**
   * Mesos `prune(excludedImages)`: removes every image that is not excluded
   * (by id or reference), not pinned and not used by a provisioned container,
   * then every layer and blob that no remaining image and no container uses.
   */
  async pruneImages(excluded: readonly string[], ctx: Ctx): Promise<void> {
    await this.lock.write(async () => {
      const keep = new Set<string>();
      for (const e of excluded) {
        const s = this.store.find(e);
        if (s) keep.add(s.id);
      }
      for (const c of this.#containers.values()) keep.add(c.imageId);
      // With a rootfs of unknown image, no image is unused for sure.
      for (const s of this.#unknownLayers.size > 0 ? [] : this.store.index.all()) {
        if (!keep.has(s.id) && !s.pinned && !this.store.isPinned(s)) await this.store.index.delete(s.id);
      }
      await this.store.gc(this.layersInUse(), ctx);
    });
  }

  writable(id: ContainerId): { dir: string; whiteouts: 'overlay' | 'aufs' | 'none' } {
    const info = this.#containers.get(idString(id));
    if (!info) throw new CriError('NotFound', `failed to find the writable layer of ${idString(id)}: not provisioned`);
    const backend = info.backend === this.backend.name ? this.backend : makeBackend(info.backend, this.mounter);
    const whiteouts = info.backend === 'overlay' ? 'overlay' : info.backend === 'aufs' ? 'aufs' : 'none';
    return { dir: backend.writable(backendDir(this.workDir, id, info.backend)), whiteouts };
  }

  async usage(id: ContainerId): Promise<{ bytes: bigint; inodes: bigint }> {
    const info = this.#containers.get(idString(id));
    if (!info) throw new CriError('NotFound', `failed to get rootfs usage of ${idString(id)}: not provisioned`);
    const backend = info.backend === this.backend.name ? this.backend : makeBackend(info.backend, this.mounter);
    return this.#usage.get(idString(id), backend.writable(backendDir(this.workDir, id, info.backend)));
  }
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}
