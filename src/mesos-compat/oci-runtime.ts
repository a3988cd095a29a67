import type { Ctx } from '../common/ctx';
import type { OciResources } from './oci/types';

/** `runtime state` output (runtime-spec `state.md`). */
export interface OciState {
  readonly id: string;
  readonly pid: number;
  readonly status: 'creating' | 'created' | 'running' | 'stopped' | 'paused';
  readonly bundle: string;
}

/**
 * The OCI runtime CLI (runc, crun) as the launcher uses it. Nested
 * containers are created by their monitor (conmon runs `runtime create`);
 * the daemon itself starts, signals, updates and
 * deletes. Every method tolerates what the runtime reports as missing where
 * noted, so teardown can be repeated.
 */
export interface OciRuntime {
  readonly name: string;
  /** The runtime binary, for the monitor to invoke. */
  readonly path: string;
  /** The runtime's state root (`--root`). */
  readonly root: string;
  start(id: string, ctx: Ctx): Promise<void>;
  /** `undefined` when the runtime does not know `id`. */
  state(id: string, ctx: Ctx): Promise<OciState | undefined>;
  list(ctx: Ctx): Promise<OciState[]>;
  /** Resolves `false` when the container is not running (nothing to signal). */
  kill(id: string, signal: string, ctx: Ctx, opts?: { all?: boolean }): Promise<boolean>;
  /** `delete --force`; resolves `false` when there was nothing to delete. */
  delete(id: string, ctx: Ctx): Promise<boolean>;
  update(id: string, resources: OciResources, ctx: Ctx): Promise<void>;
  /**
   * `checkpoint --leave-running` through CRIU: the process tree's images
   * into `imagePath`, CRIU's log and stats into `workPath`. The container
   * keeps running.
   */
  checkpoint(id: string, opts: { imagePath: string; workPath: string }, ctx: Ctx): Promise<void>;
}
