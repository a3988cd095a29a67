import type { Ctx } from '../../common/ctx';
import type { BackendName } from '../types';
import type { LayerMeta } from '../store/layer-store';

/**
 * Mirrors Mesos `provisioner/backend.hpp`: turns an ordered list of extracted
 * layers (bottom first) into a root filesystem under a per-container
 * directory, and tears it down.
 */
export interface LayerRef {
  /** The extracted layer (`layers/<digest>/rootfs`), whiteouts in overlay form. */
  readonly rootfs: string;
  readonly meta: LayerMeta;
}

export interface Backend {
  readonly name: BackendName;
  /** Builds the rootfs in `dir` (created if needed) and returns its path. */
  provision(layers: readonly LayerRef[], dir: string, ctx: Ctx): Promise<string>;
  /** Unmounts and removes `dir`; resolves `false` when there was nothing to destroy. Idempotent. */
  destroy(dir: string, ctx: Ctx): Promise<boolean>;
  /** The directory holding what the container wrote (for usage stats). */
  writable(dir: string): string;
}
