import type { Ctx } from '../../common/ctx';
import type { SandboxConfig } from '../launch-config';
import type { ResourceStatistics } from '../containerizer';
import type { OciResources } from '../oci/types';
import type { SandboxFiles, SandboxRecord } from '../state';

/** A sandbox as its isolators see it when they clean up. */
export type IsolatedSandbox = Pick<SandboxRecord, 'id' | 'podCgroup' | 'hostNetwork'> & {
  /**
   * No usable record (recovery's sweep of a half-made dir): each isolator
   * cleans what it derives from the id alone; one that keeps its own
   * records (network) leaves it to its `recover`.
   */
  readonly orphan?: true;
};

/** One sandbox launch, as its isolators' `prepare` sees it. */
export interface SandboxLaunch {
  readonly id: string;
  readonly config: SandboxConfig;
  /** Checkpointed already; isolators fill in what they made (netns, IPs). */
  readonly rec: SandboxRecord;
  /** The node's pod CIDRs (`UpdateRuntimeConfig`) at launch. */
  readonly podCidrs: readonly string[];
  readonly ctx: Ctx;
  /** Ends a phase of the launch's timings (`observePhases('sandbox', …)`). */
  lap(phase: string): void;
  /** Checkpoints `rec`. */
  checkpoint(): Promise<void>;
}

/** What prepared isolators hand the infra launch (Mesos `ContainerLaunchInfo`). */
export interface SandboxLaunchInfo {
  readonly files?: Partial<SandboxFiles>;
  /** The infra process's cgroup directories, which it joins itself. */
  readonly cgroupDirs?: readonly string[];
}

/** What recovery found: the isolators drop what belongs to none of it. */
export interface RecoveredSandboxes {
  /** Every sandbox with a record, in any phase. */
  readonly sandboxes: readonly SandboxRecord[];
  /** Sandboxes whose record could not be read: left as they are. */
  readonly untouched: ReadonlySet<string>;
}

/**
 * Mirrors `mesos::slave::Isolator` for pod sandboxes: omitted hooks are
 * no-ops. Containers inside a sandbox are isolated by the OCI runtime
 * from their spec, so only sandboxes walk this list.
 */
export interface Isolator {
  readonly name: string;
  /** After the launcher's recovery: drop state of sandboxes recovery does not know. */
  recover?(state: RecoveredSandboxes, ctx: Ctx): Promise<void>;
  /** Before the infra process starts, in list order. A later failure calls `cleanup`. */
  prepare?(launch: SandboxLaunch): Promise<SandboxLaunchInfo | void>;
  /** Once the infra process runs. */
  isolate?(sb: SandboxRecord, pid: number, ctx: Ctx): Promise<void>;
  /** New limits of a running sandbox. */
  update?(sb: SandboxRecord, limits: OciResources, ctx: Ctx): Promise<void>;
  /** What the isolator measures of a sandbox; the containerizer merges them. */
  usage?(sb: SandboxRecord, ctx: Ctx): Promise<Partial<ResourceStatistics>>;
  /**
   * In reverse list order, after the infra process is killed. Idempotent;
   * must tolerate a sandbox it never prepared (a launch cut short, an orphan).
   */
  cleanup?(sb: IsolatedSandbox, ctx: Ctx): Promise<void>;
}

export interface CleanupOptions {
  /** Report a failure and go on (recovery's sweep); without it the first failure throws. */
  readonly onError?: (iso: Isolator, err: unknown) => void;
  readonly done?: (iso: Isolator) => void;
}

/**
 * The ordered isolators of a sandbox: launch prepares them in order,
 * destroy cleans them up in reverse, recovery recovers them in order
 * (Mesos `MesosContainerizerProcess::isolators`).
 */
export class IsolatorList {
  constructor(readonly all: readonly Isolator[]) {}

  async recover(state: RecoveredSandboxes, ctx: Ctx): Promise<void> {
    for (const iso of this.all) await iso.recover?.(state, ctx);
  }

  /** New limits of a running sandbox, in list order; stops at the first failure. */
  async update(sb: SandboxRecord, limits: OciResources, ctx: Ctx): Promise<void> {
    for (const iso of this.all) await iso.update?.(sb, limits, ctx);
  }

  /** What every isolator measures of the sandbox, merged in list order (Mesos `usage`). */
  async usage(sb: SandboxRecord, ctx: Ctx): Promise<Partial<ResourceStatistics>> {
    const parts = await Promise.all(this.all.map((iso) => iso.usage?.(sb, ctx)));
    return Object.assign({}, ...parts.filter((p) => p !== undefined)) as Partial<ResourceStatistics>;
  }

  /** Stops at the first failure; the caller's rollback cleans up. */
  async prepare(launch: SandboxLaunch): Promise<{ files: Partial<SandboxFiles>; cgroupDirs: readonly string[] }> {
    let files: Partial<SandboxFiles> = {};
    let cgroupDirs: readonly string[] = [];
    for (const iso of this.all) {
      const info = await iso.prepare?.(launch);
      if (!info) continue;
      if (info.files) files = { ...files, ...info.files };
      if (info.cgroupDirs) cgroupDirs = info.cgroupDirs;
    }
    return { files, cgroupDirs };
  }

  /**
   * Reverse order. Without `onError` the first failure stops the walk (the
   * sandbox stays for a retry); with it each failure is reported and the
   * walk goes on. `done` follows each isolator's cleanup (the timings).
   */
  async cleanup(sb: IsolatedSandbox, ctx: Ctx, opts: CleanupOptions = {}): Promise<void> {
    const { onError, done } = opts;
    for (const iso of [...this.all].reverse()) {
      if (!iso.cleanup) continue;
      if (!onError) await iso.cleanup(sb, ctx);
      else await iso.cleanup(sb, ctx).catch((err: unknown) => onError(iso, err));
      done?.(iso);
    }
  }
}
