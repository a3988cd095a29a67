import type { AppArmorProfile } from './oci/apparmor';
/**
 * What the containerizer is asked to run, in its own terms. `src/shim`
 * translates CRI `PodSandboxConfig`/`ContainerConfig` into these; nothing below
 * the shim sees CRI or protobuf types. Field meanings follow `api.proto`.
 */

export type NamespaceMode = 'pod' | 'container' | 'node' | 'target';

export interface NamespaceOptions {
  readonly network: NamespaceMode;
  readonly pid: NamespaceMode;
  readonly ipc: NamespaceMode;
  /** Container whose pid namespace is joined when `pid` is `target`. */
  readonly targetId: string;
}

export type SeccompProfile =
  | { readonly kind: 'unconfined' }
  | { readonly kind: 'runtime-default' }
  | { readonly kind: 'localhost'; readonly path: string };

export interface SecurityContext {
  readonly privileged: boolean;
  readonly namespaces: NamespaceOptions;
  readonly runAsUser?: bigint;
  readonly runAsGroup?: bigint;
  readonly runAsUsername: string;
  readonly supplementalGroups: readonly bigint[];
  readonly readonlyRootfs: boolean;
  readonly noNewPrivs: boolean;
  readonly capabilities: { readonly add: readonly string[]; readonly drop: readonly string[]; readonly addAmbient: readonly string[] };
  /** `undefined`: not given by the client (runtime defaults apply); `[]`: explicitly none. */
  readonly maskedPaths?: readonly string[];
  readonly readonlyPaths?: readonly string[];
  readonly seccomp: SeccompProfile;
  /** Containers only; absent means unset. */
  readonly apparmor?: AppArmorProfile;
}

export interface Resources {
  readonly cpuPeriod: bigint;
  readonly cpuQuota: bigint;
  readonly cpuShares: bigint;
  readonly memoryLimitBytes: bigint;
  readonly memorySwapLimitBytes: bigint;
  readonly oomScoreAdj: number;
  readonly cpusetCpus: string;
  readonly cpusetMems: string;
  readonly hugepageLimits: ReadonlyArray<{ readonly pageSize: string; readonly limit: bigint }>;
  readonly unified: Readonly<Record<string, string>>;
}

export type Propagation = 'private' | 'rslave' | 'rshared';

export interface Mount {
  readonly containerPath: string;
  readonly hostPath: string;
  readonly readonly: boolean;
  readonly propagation: Propagation;
}

export interface Device {
  readonly containerPath: string;
  readonly hostPath: string;
  readonly permissions: string;
}

export interface PortMapping {
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly containerPort: number;
  readonly hostPort: number;
  readonly hostIp: string;
}

export interface DnsConfig {
  readonly servers: readonly string[];
  readonly searches: readonly string[];
  readonly options: readonly string[];
}

export interface SandboxConfig {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly attempt: number;
  readonly hostname: string;
  readonly logDirectory: string;
  readonly dns?: DnsConfig;
  readonly portMappings: readonly PortMapping[];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly cgroupParent: string;
  readonly sysctls: Readonly<Record<string, string>>;
  readonly security: SecurityContext;
  readonly runtimeHandler: string;
  /** The handler `runtimeHandler` resolved to at RunPodSandbox (the default's name for `''`); absent in records from before named handlers. */
  readonly runtime?: string;
}

export interface ContainerConfig {
  readonly name: string;
  readonly attempt: number;
  /** The image as the client named it (tag, digest or id). */
  readonly image: string;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly workingDir: string;
  readonly envs: ReadonlyArray<readonly [string, string]>;
  readonly mounts: readonly Mount[];
  readonly devices: readonly Device[];
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Relative to the sandbox's `logDirectory`; empty: no log file. */
  readonly logPath: string;
  readonly stdin: boolean;
  readonly stdinOnce: boolean;
  readonly tty: boolean;
  readonly resources?: Resources;
  readonly security: SecurityContext;
  /** Overrides the image's `StopSignal` when set. */
  readonly stopSignal: string;
}
