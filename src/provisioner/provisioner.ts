import type { ContainerId } from '../common/container-id';
import { background, type Ctx } from '../common/ctx';
import { Mounter } from './backends/mounts';
import { selectBackend } from './backends/select';
import { MesosProvisioner } from './mesos-provisioner';
import { provisionerDir } from './paths';
import { DockerStore, type ImageStore } from './store/image-store';
import { RwLock } from './sync';
import type { BackendName, ImageRecord, ProvisionerOptions } from './types';

export type { AuthConfig, ImageConfig, ImageRecord, ProvisionerOptions, BackendName } from './types';
export type { ImageStore } from './store/image-store';

/**
 * The provisioner behind the CRI ImageService and CreateContainer (Mesos
 * `provisioner.hpp`). `createProvisioner` is the composition root of this
 * layer: one store, one backend chosen and validated for the work dir.
 */
export interface Provisioner {
  /** The backend in use (after `auto` selection). */
  readonly backend: BackendName;
  /** Keeps the rootfses of `knownContainerIds`, destroys every other one, recovers the stores. */
  recover(knownContainerIds: readonly ContainerId[], ctx: Ctx): Promise<void>;
  /** `image` must be present locally (kubelet pulls first): NotFound otherwise. Idempotent per container. */
  provision(containerId: ContainerId, image: string, ctx: Ctx): Promise<{ rootfs: string; image: ImageRecord }>;
  /** Recursive over nested containers; resolves `false` for an unknown container. */
  destroy(containerId: ContainerId, ctx: Ctx): Promise<boolean>;
  /**
   * Mesos semantics: removes every image that is not in `excludedImages` (ids
   * or references), not pinned and not used by a container, then every layer
   * and blob no image and no container uses. Exclusive with provision/destroy.
   */
  pruneImages(excludedImages: readonly string[], ctx: Ctx): Promise<void>;
  /** Writable-layer usage (overlay upper dir, copy rootfs) for container stats. */
  usage(containerId: ContainerId): Promise<{ bytes: bigint; inodes: bigint }>;
  /** The container's writable layer and how it marks deletions (for checkpoint archives). */
  writable(containerId: ContainerId): { dir: string; whiteouts: 'overlay' | 'aufs' | 'none' };
}

/** Validates the backend (throws `FailedPrecondition` naming why a forced one is unusable). */
export async function createProvisioner(opts: ProvisionerOptions, ctx: Ctx = background()): Promise<{ store: ImageStore; provisioner: Provisioner; docker: DockerStore }> {
  const lock = new RwLock();
  const mounter = Mounter.via(opts.spawnServer);
  const backend = await selectBackend(opts.backend, provisionerDir(opts.workDir), ctx, mounter);
  let inUse: () => ReadonlySet<string> | 'unknown' = () => new Set();
  const docker = new DockerStore({ ...opts, lock, layersInUse: () => inUse() });
  const mesos = new MesosProvisioner(opts.workDir, backend, docker, lock, mounter);
  inUse = () => mesos.layersInUse();
  await docker.recover();
  const provisioner: Provisioner = {
    backend: backend.name,
    recover: (ids, c) => mesos.recover(ids, c),
    provision: (id, image, c) => mesos.provision(id, image, c),
    destroy: (id, c) => mesos.destroy(id, c),
    pruneImages: (ex, c) => mesos.pruneImages(ex, c),
    usage: (id) => mesos.usage(id),
    writable: (id) => mesos.writable(id),
  };
  return { store: docker, provisioner, docker };
}
