import type { ImageConfig } from './oci/image-config';
import type { ContainerConfig, Resources, SandboxConfig } from './launch-config';

/**
 * Checkpointed state of sandboxes (top-level containers) and their nested
 * containers, in Mesos' phases (`containerizer.hpp` `State`):
 *
 *   sandbox:    preparing ──► running ──► stopped ──► (removed)
 *                   │                        ▲
 *                   └──── crash: cleaned ────┘ by `recover`
 *
 *   container:  provisioning ─► preparing ─► isolating ─► created ─► running ─► exited ─► (removed)
 *                    │              │            │           │                   ▲
 *                    └──────────────┴────────────┴─ crash ───┴──────── destroy ──┘
 *
 * `provisioning`/`preparing`/`isolating` are the half-made phases: a
 * checkpoint still in one of them at `recover` belongs to a launch the
 * daemon died in, and is cleaned up and forgotten (the client never got an
 * id back). `created`/`running`/`exited` map onto CRI's container states.
 */
export type SandboxPhase = 'preparing' | 'running' | 'stopped';
export type ContainerPhase = 'provisioning' | 'preparing' | 'isolating' | 'created' | 'running' | 'exited';

export const HALF_MADE: ReadonlySet<ContainerPhase> = new Set(['provisioning', 'preparing', 'isolating']);

export interface SandboxFiles {
  readonly hostname: string;
  readonly hosts: string;
  readonly resolvConf: string;
  readonly shm: string;
}

export interface SandboxRecord {
  readonly id: string;
  readonly config: SandboxConfig;
  phase: SandboxPhase;
  readonly createdAt: bigint;
  /** The cgroup the pod's containers live under (kubelet's, or ours). */
  readonly podCgroup: string;
  /** True when `podCgroup` is ours to remove. */
  readonly ownsPodCgroup: boolean;
  readonly hostNetwork: boolean;
  /** Pid namespace shared by all containers (`NamespaceMode` POD). */
  readonly sharedPid: boolean;
  netnsPath?: string;
  ips: string[];
  files?: SandboxFiles;
  infraPid?: number;
  /** `/proc/<pid>/stat` start time of `infraPid`, so a recycled pid is never taken for it. */
  infraStart?: string;
  /** The last `UpdatePodSandboxResources` (pod resources and overhead apart). */
  podResources?: { readonly resources?: Resources; readonly overhead?: Resources };
}

export interface ImageInfo {
  /** The image as the client named it. */
  readonly ref: string;
  /** The image id (config digest). */
  readonly id: string;
  /** A repo digest, when the image has one (CRI `image_ref`). */
  readonly repoDigest: string;
  readonly config: ImageConfig;
}

export interface ContainerRecord {
  readonly id: string;
  readonly sandboxId: string;
  readonly config: ContainerConfig;
  phase: ContainerPhase;
  readonly createdAt: bigint;
  image?: ImageInfo;
  rootfs?: string;
  /** Absolute log path; empty: no log. */
  readonly logPath: string;
  readonly cgroupsPath: string;
  resources?: Resources;
  pid?: number;
  startedAt?: bigint;
  finishedAt?: bigint;
  exitCode?: number;
  reason?: string;
  message?: string;
}

/**
 * CREATED and not made in the runtime yet: CreateContainer wrote the bundle,
 * StartContainer makes the runtime's container (and records its pid). No
 * process, cgroup or monitor exists for it.
 */
export const unmade = (c: Pick<ContainerRecord, 'phase' | 'pid'>): boolean => c.phase === 'created' && c.pid === undefined;
