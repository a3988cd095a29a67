import type { Ctx } from '../../common/ctx';
import type { PullSnapshot } from '../../common/metrics';

/**
 * What the ImageService handlers need from the provisioner's image store,
 * declared here by its user. `src/provisioner` implements it.
 */
export interface ImageView {
  readonly id: string;
  readonly repoTags: readonly string[];
  readonly repoDigests: readonly string[];
  readonly size: bigint;
  readonly config: { readonly user: string };
  readonly pinned: boolean;
}

export interface RegistryAuth {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

export interface ImageStoreView {
  pull(ref: string, opts: { auth?: RegistryAuth }, ctx: Ctx): Promise<ImageView>;
  resolve(refOrId: string): Promise<ImageView | undefined>;
  list(filter?: { ref?: string }): Promise<ImageView[]>;
  remove(refOrId: string, ctx: Ctx): Promise<boolean>;
  fsInfo(): Promise<{ mountpoint: string; usedBytes: bigint; inodesUsed: bigint; timestamp: bigint }>;
}

/** A store that reports its pulls in flight (for `mesos-cri images pull`). */
export interface PullTrackingStore extends ImageStoreView {
  pullOf(ref: string): PullSnapshot | undefined;
}
