import type { ContainerId } from '../common/container-id';
import type { Ctx } from '../common/ctx';
import type { ContainerConfig, Resources, SandboxConfig } from './launch-config';
import type { EventListener } from './events';
import type { CgroupDetail, InterfaceStats } from './isolators/cgroup-detail';
import type { ImageInfo } from './state';

export type { CgroupDetail, InterfaceStats } from './isolators/cgroup-detail';

/** What `launch` runs: a pod sandbox (top-level) or a container nested in one. */
export type LaunchInfo = { readonly kind: 'sandbox'; readonly config: SandboxConfig } | { readonly kind: 'container'; readonly config: ContainerConfig };

/** Mesos `Containerizer::LaunchResult`: expected outcomes are values. */
export type LaunchResult = 'launched' | 'already-launched';

export interface SandboxStatus {
  readonly kind: 'sandbox';
  readonly id: string;
  readonly config: SandboxConfig;
  /** `ready` while the infra process lives and the sandbox was not stopped. */
  readonly state: 'ready' | 'notready';
  readonly createdAt: bigint;
  readonly hostNetwork: boolean;
  readonly ips: readonly string[];
  readonly netnsPath?: string;
  readonly infraPid?: number;
}

export interface ContainerStatus {
  readonly kind: 'container';
  readonly id: string;
  readonly sandboxId: string;
  readonly config: ContainerConfig;
  readonly state: 'created' | 'running' | 'exited' | 'unknown';
  readonly createdAt: bigint;
  /** 0n until started (CRI). */
  readonly startedAt: bigint;
  readonly finishedAt: bigint;
  readonly exitCode: number;
  /** `Completed`, `Error`, `OOMKilled` or empty. */
  readonly reason: string;
  readonly message: string;
  readonly image?: ImageInfo;
  /** Absolute log path; empty when the container has none. */
  readonly logPath: string;
  readonly resources?: Resources;
  readonly pid?: number;
}

/** Mesos `ResourceStatistics`, the parts CRI stats need. */
export interface ResourceStatistics {
  readonly timestampNs: bigint;
  readonly cpuUsageNs?: bigint;
  readonly memoryUsageBytes?: bigint;
  readonly memoryWorkingSetBytes?: bigint;
  readonly memoryRssBytes?: bigint;
  readonly pageFaults?: bigint;
  readonly majorPageFaults?: bigint;
  /** The container's writable layer (nested containers only). */
  readonly writableLayer?: { readonly bytes: bigint; readonly inodes: bigint };
  /** The pod's interfaces but `lo` (sandboxes with their own network namespace). */
  readonly network?: readonly InterfaceStats[];
  /** With `usage(…, { detail: true })`, running containers: what cAdvisor reads beyond the above. */
  readonly detail?: CgroupDetail;
  /** With `detail`: the filesystem the writable layer lives on. */
  readonly filesystem?: { readonly capacityBytes: bigint; readonly inodesTotal: bigint; readonly inodesFree: bigint };
}

export interface ExecSyncResult {
  readonly exitCode: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/**
 * Mirrors `mesos::slave::Containerizer`, with CRI's create/start split:
 * `launch` of a nested container prepares it and runs `runtime create`
 * (state `created`); `start` releases it. A sandbox's `launch` runs it to
 * `ready`. Calls on one id are serialized.
 */
export interface Containerizer {
  /** Rebuilds state from checkpoints before serving: launcher → isolators → provisioner. */
  recover(ctx: Ctx): Promise<void>;
  launch(id: ContainerId, info: LaunchInfo, ctx: Ctx): Promise<LaunchResult>;
  start(id: ContainerId, ctx: Ctx): Promise<void>;
  update(id: ContainerId, resources: Resources, ctx: Ctx): Promise<void>;
  /**
   * Pod-level limits of a sandbox (`UpdatePodSandboxResources`): its
   * resources plus its overhead, written into the pod cgroup.
   */
  updateSandbox(id: ContainerId, resources: { resources?: Resources; overhead?: Resources }, ctx: Ctx): Promise<void>;
  /** `detail`: also the fields the CRI metrics RPCs need (more files read, fds counted). */
  usage(id: ContainerId, ctx: Ctx, opts?: { detail?: boolean }): Promise<ResourceStatistics>;
  /** Throws `CriError('NotFound')` for unknown ids. */
  status(id: ContainerId): SandboxStatus | ContainerStatus;
  /** Resolves when the nested container has exited. */
  wait(id: ContainerId, ctx: Ctx): Promise<ContainerStatus>;
  /**
   * Graceful stop of a nested container: `signal` (default: the config's or
   * image's stop signal, else SIGTERM), then SIGKILL after `timeoutSeconds`.
   */
  kill(id: ContainerId, opts: { timeoutSeconds: number; signal?: string }, ctx: Ctx): Promise<void>;
  /**
   * Stops a container (SIGKILL) or a sandbox (its containers, infra process,
   * network, shm) but keeps its record. Resolves `false` for unknown ids.
   */
  destroy(id: ContainerId, ctx: Ctx): Promise<boolean>;
  /** Destroys, then forgets everything (nested containers too). `false` for unknown ids. */
  remove(id: ContainerId, ctx: Ctx): Promise<boolean>;
  /**
   * Every known sandbox and container; `kind` and `sandboxId` narrow the
   * list before any status is built (a sandbox's status reads `/proc`).
   */
  containers(filter: { kind: 'sandbox' }): SandboxStatus[];
  containers(filter: { kind: 'container'; sandboxId?: string }): ContainerStatus[];
  containers(filter?: ContainersFilter): Array<SandboxStatus | ContainerStatus>;
  /** The `ContainerId` of a sandbox or container id string; `undefined` if unknown. */
  lookup(id: string): ContainerId | undefined;
  reopenLog(id: ContainerId, ctx: Ctx): Promise<void>;
  /**
   * Writes a checkpoint archive of a running container to `location`
   * (CRIU through the OCI runtime; the container keeps running).
   * `FailedPrecondition` when it is not running or CRIU cannot work here.
   */
  checkpoint(id: ContainerId, opts: { location: string; timeoutSeconds: number }, ctx: Ctx): Promise<void>;
  /** Runs a command in a container, with output capped at 16 MiB per stream, killed after `timeoutSeconds` (0: none). */
  execSync(id: ContainerId, cmd: readonly string[], opts: { timeoutSeconds: number }, ctx: Ctx): Promise<ExecSyncResult>;
  subscribe(listener: EventListener): () => void;
  /**
   * Stores the node's pod CIDRs (`UpdateRuntimeConfig`'s comma-separated
   * `pod_cidr`; empty leaves them as they are) across restarts; sandboxes
   * launched afterwards pass them to CNI as `ipRanges`.
   */
  updateNetworkConfig(podCidr: string, ctx: Ctx): Promise<void>;
  pruneImages(excludedImages: readonly string[], ctx: Ctx): Promise<void>;
}

export interface ContainersFilter {
  readonly kind?: 'sandbox' | 'container';
  /** Containers of this sandbox only (sandboxes are left out). */
  readonly sandboxId?: string;
}
