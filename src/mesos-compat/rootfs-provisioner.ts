import type { Ctx } from '../common/ctx';
import type { ContainerId } from '../common/container-id';
import type { ImageConfig } from './oci/image-config';

/** The image a rootfs was provisioned from, as the provisioner's store reports it. */
export interface ProvisionedImage {
  readonly id: string;
  readonly repoTags: readonly string[];
  readonly repoDigests: readonly string[];
  readonly config: ImageConfig;
}

/**
 * What the containerizer needs from the provisioner (declared by its user,
 * STYLE.md: interfaces belong to the code that uses them);
 * `src/provisioner`'s `Provisioner` satisfies it structurally.
 */
export interface RootfsProvisioner {
  /** Destroys rootfses of containers not in `knownContainerIds` (which lists parents too: sandboxes). */
  recover(knownContainerIds: readonly ContainerId[], ctx: Ctx): Promise<unknown>;
  /** The image must already be pulled: `CriError('NotFound')` otherwise. */
  provision(containerId: ContainerId, image: string, ctx: Ctx): Promise<{ rootfs: string; image: ProvisionedImage }>;
  /** Resolves `false` when there was nothing to destroy. */
  destroy(containerId: ContainerId, ctx: Ctx): Promise<boolean>;
  pruneImages(excludedImages: readonly string[], ctx: Ctx): Promise<unknown>;
  usage(containerId: ContainerId): Promise<{ bytes: bigint; inodes: bigint }>;
  /**
   * Where the container's writes land: an overlay upper dir (whiteouts are
   * 0/0 character devices), an aufs branch (`.wh.` files), or the whole
   * rootfs (copy, bind).
   */
  writable?(containerId: ContainerId): { dir: string; whiteouts: 'overlay' | 'aufs' | 'none' };
}
