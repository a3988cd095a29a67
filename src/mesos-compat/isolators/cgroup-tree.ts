import type { OciResources } from '../oci/types';
import type { CgroupDetail } from './cgroup-detail';
import type { CgroupUsage } from './cgroup-fs';

/**
 * What the daemon does with cgroups on one layout (`Cgroups` picks the
 * implementation): v1 hierarchies (`CgroupfsV1`, also used on hybrid hosts)
 * or the v2 unified tree (`CgroupfsV2`). Paths are relative to the cgroup
 * root(s), as in an OCI spec's `cgroupsPath` with the cgroupfs driver.
 */
export interface CgroupTree {
  /** Whether containers can be limited by `controller` (read once). */
  has(controller: string): boolean;
  /** Directories of `path`: one per hierarchy on v1, one on v2. */
  dirs(path: string): Promise<string[]>;
  /** Creates `path` (and its parents) and returns `dirs(path)`. */
  create(path: string): Promise<string[]>;
  usage(path: string, nowNs: bigint): Promise<CgroupUsage>;
  detail(path: string): Promise<CgroupDetail>;
  /** Writes limits into `path`'s existing cgroups; kernel refusals become CRI errors. */
  applyLimits(path: string, r: OciResources): void;
  /** SIGKILLs every process left in `path`. */
  killAll(path: string): Promise<void>;
  /** Removes `path` and its children everywhere; idempotent. */
  remove(path: string): Promise<void>;
  /** This process's own `cgroup.procs` file in the tree, or null. */
  ownProcs(): string | null;
}
