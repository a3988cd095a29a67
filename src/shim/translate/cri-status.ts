import type { Container } from '../../../cri/generated/runtime/v1/Container';
import type { ContainerStatus as CriContainerStatus } from '../../../cri/generated/runtime/v1/ContainerStatus';
import type { LinuxContainerResources } from '../../../cri/generated/runtime/v1/LinuxContainerResources';
import type { PodSandbox } from '../../../cri/generated/runtime/v1/PodSandbox';
import type { PodSandboxStatus } from '../../../cri/generated/runtime/v1/PodSandboxStatus';
import type { NamespaceMode } from '../../mesos-compat/launch-config';
import type { Resources } from '../../mesos-compat/launch-config';
import type { ContainerStatus, SandboxStatus } from '../../mesos-compat/containerizer';

const CRI_MODE: Record<NamespaceMode, 'POD' | 'CONTAINER' | 'NODE' | 'TARGET'> = { pod: 'POD', container: 'CONTAINER', node: 'NODE', target: 'TARGET' };
const CRI_PROPAGATION = { private: 'PROPAGATION_PRIVATE', rslave: 'PROPAGATION_HOST_TO_CONTAINER', rshared: 'PROPAGATION_BIDIRECTIONAL' } as const;

export const nanos = (v: bigint): string => v.toString();

export const sandboxState = (s: SandboxStatus): 'SANDBOX_READY' | 'SANDBOX_NOTREADY' => (s.state === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY');

const CONTAINER_STATE = {
  created: 'CONTAINER_CREATED',
  running: 'CONTAINER_RUNNING',
  exited: 'CONTAINER_EXITED',
  unknown: 'CONTAINER_UNKNOWN',
} as const;
export const containerState = (c: ContainerStatus): (typeof CONTAINER_STATE)[keyof typeof CONTAINER_STATE] => CONTAINER_STATE[c.state];

const sandboxMetadata = (s: SandboxStatus) => ({ name: s.config.name, uid: s.config.uid, namespace: s.config.namespace, attempt: s.config.attempt });

export function podSandbox(s: SandboxStatus): PodSandbox {
  return {
    id: s.id,
    metadata: sandboxMetadata(s),
    state: sandboxState(s),
    created_at: nanos(s.createdAt),
    labels: { ...s.config.labels },
    annotations: { ...s.config.annotations },
    runtime_handler: s.config.runtimeHandler,
  };
}

export function podSandboxStatus(s: SandboxStatus): PodSandboxStatus {
  const ns = s.config.security.namespaces;
  return {
    ...podSandbox(s),
    network: s.hostNetwork ? { ip: '', additional_ips: [] } : { ip: s.ips[0] ?? '', additional_ips: s.ips.slice(1).map((ip) => ({ ip })) },
    linux: { namespaces: { options: { network: CRI_MODE[ns.network], pid: CRI_MODE[ns.pid], ipc: CRI_MODE[ns.ipc], target_id: ns.targetId } } },
  };
}

/** What the image store says of a container's image now (`ImageStatus`'s names). */
export interface ImageNames {
  readonly repoTags: readonly string[];
  readonly repoDigests: readonly string[];
}

/**
 * A container's image as containerd's ContainerStatus reports it: the image's
 * first tag now, else the name the container was created with (never the
 * bare id: kubelet copies it into the pod status users read); its first repo
 * digest, else its id. Without the image's names (it was removed, or this is
 * a list), the created-with name and the id.
 */
function imageOf(c: ContainerStatus, names?: ImageNames) {
  const id = c.image?.id ?? '';
  return {
    image: { image: names?.repoTags[0] ?? c.config.image, user_specified_image: c.config.image },
    image_ref: names?.repoDigests[0] ?? id,
    image_id: id,
  };
}

export function container(c: ContainerStatus): Container {
  const img = imageOf(c);
  return {
    id: c.id,
    pod_sandbox_id: c.sandboxId,
    metadata: { name: c.config.name, attempt: c.config.attempt },
    image: img.image,
    image_ref: img.image_ref,
    image_id: img.image_id,
    state: containerState(c),
    created_at: nanos(c.createdAt),
    labels: { ...c.config.labels },
    annotations: { ...c.config.annotations },
  };
}

export function linuxResources(r: Resources): LinuxContainerResources {
  return {
    cpu_period: r.cpuPeriod.toString(),
    cpu_quota: r.cpuQuota.toString(),
    cpu_shares: r.cpuShares.toString(),
    memory_limit_in_bytes: r.memoryLimitBytes.toString(),
    memory_swap_limit_in_bytes: r.memorySwapLimitBytes.toString(),
    oom_score_adj: String(r.oomScoreAdj),
    cpuset_cpus: r.cpusetCpus,
    cpuset_mems: r.cpusetMems,
    hugepage_limits: r.hugepageLimits.map((h) => ({ page_size: h.pageSize, limit: h.limit.toString() })),
    unified: { ...r.unified },
  };
}

export function containerStatus(c: ContainerStatus, names?: ImageNames): CriContainerStatus {
  const img = imageOf(c, names);
  return {
    id: c.id,
    metadata: { name: c.config.name, attempt: c.config.attempt },
    state: containerState(c),
    created_at: nanos(c.createdAt),
    started_at: nanos(c.startedAt),
    finished_at: nanos(c.finishedAt),
    exit_code: c.exitCode,
    image: img.image,
    image_ref: img.image_ref,
    image_id: img.image_id,
    reason: c.reason,
    message: c.message,
    labels: { ...c.config.labels },
    annotations: { ...c.config.annotations },
    mounts: c.config.mounts.map((m) => ({
      container_path: m.containerPath,
      host_path: m.hostPath,
      readonly: m.readonly,
      propagation: CRI_PROPAGATION[m.propagation],
    })),
    log_path: c.logPath,
    ...(c.resources ? { resources: { linux: linuxResources(c.resources) } } : {}),
    ...(c.config.stopSignal ? { stop_signal: c.config.stopSignal as CriContainerStatus['stop_signal'] } : {}),
  };
}
