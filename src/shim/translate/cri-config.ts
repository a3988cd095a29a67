import type { ContainerConfig__Output } from '../../../cri/generated/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../../../cri/generated/runtime/v1/LinuxContainerResources';
import type { PodSandboxConfig__Output } from '../../../cri/generated/runtime/v1/PodSandboxConfig';
import { CriError } from '../../common/errors';
import type { ContainerConfig, Propagation, Resources, SandboxConfig } from '../../mesos-compat/launch-config';
import { envValue } from './env';
import { containerSecurity, int64, sandboxSecurity } from './security';

const PROPAGATION: Record<string, Propagation> = {
  PROPAGATION_PRIVATE: 'private',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};

const required = (value: string | undefined, field: string): string => {
  if (!value) throw new CriError('InvalidArgument', `failed to parse request: ${field} is required`);
  return value;
};

/** CRI `PodSandboxConfig` → the containerizer's `SandboxConfig`. */
export function sandboxConfig(c: PodSandboxConfig__Output | null, runtimeHandler: string): SandboxConfig {
  if (!c) throw new CriError('InvalidArgument', 'failed to parse request: config is required');
  const md = c.metadata;
  return {
    name: required(md?.name, 'config.metadata.name'),
    namespace: md?.namespace ?? '',
    uid: required(md?.uid, 'config.metadata.uid'),
    attempt: md?.attempt ?? 0,
    hostname: c.hostname,
    logDirectory: c.log_directory,
    ...(c.dns_config ? { dns: { servers: c.dns_config.servers, searches: c.dns_config.searches, options: c.dns_config.options } } : {}),
    portMappings: c.port_mappings.map((p) => ({
      protocol: p.protocol === 'UDP' ? 'udp' : p.protocol === 'SCTP' ? 'sctp' : 'tcp',
      containerPort: p.container_port,
      hostPort: p.host_port,
      hostIp: p.host_ip,
    })),
    labels: c.labels,
    annotations: c.annotations,
    cgroupParent: c.linux?.cgroup_parent ?? '',
    sysctls: c.linux?.sysctls ?? {},
    security: sandboxSecurity(c.linux?.security_context),
    runtimeHandler,
  };
}

export function resources(r: LinuxContainerResources__Output | null | undefined, f = 'linux.resources'): Resources | undefined {
  if (!r) return undefined;
  return {
    cpuPeriod: int64(r.cpu_period, `${f}.cpu_period`),
    cpuQuota: int64(r.cpu_quota, `${f}.cpu_quota`),
    cpuShares: int64(r.cpu_shares, `${f}.cpu_shares`),
    memoryLimitBytes: int64(r.memory_limit_in_bytes, `${f}.memory_limit_in_bytes`),
    memorySwapLimitBytes: int64(r.memory_swap_limit_in_bytes, `${f}.memory_swap_limit_in_bytes`),
    oomScoreAdj: Number(int64(r.oom_score_adj, `${f}.oom_score_adj`)),
    cpusetCpus: r.cpuset_cpus,
    cpusetMems: r.cpuset_mems,
    hugepageLimits: r.hugepage_limits.map((h, i) => ({ pageSize: h.page_size, limit: int64(h.limit, `${f}.hugepage_limits[${i}].limit`) })),
    unified: r.unified,
  };
}

/** CRI `ContainerConfig` → the containerizer's `ContainerConfig`. */
export function containerConfig(c: ContainerConfig__Output | null): ContainerConfig {
  if (!c) throw new CriError('InvalidArgument', 'failed to parse request: config is required');
  const res = resources(c.linux?.resources);
  return {
    name: required(c.metadata?.name, 'config.metadata.name'),
    attempt: c.metadata?.attempt ?? 0,
    image: required(c.image?.image, 'config.image.image'),
    command: c.command,
    args: c.args,
    workingDir: c.working_dir,
    envs: c.envs.map((e, i) => [e.key, envValue(e.value, e.key, i)] as const),
    mounts: c.mounts.map((m, i) => ({
      containerPath: required(m.container_path, `config.mounts[${i}].container_path`),
      hostPath: required(m.host_path, `config.mounts[${i}].host_path`),
      readonly: m.readonly,
      propagation: PROPAGATION[m.propagation] ?? 'private',
    })),
    devices: c.devices.map((d, i) => ({
      containerPath: required(d.container_path, `config.devices[${i}].container_path`),
      hostPath: required(d.host_path, `config.devices[${i}].host_path`),
      permissions: d.permissions || 'rwm',
    })),
    labels: c.labels,
    annotations: c.annotations,
    logPath: c.log_path,
    stdin: c.stdin,
    stdinOnce: c.stdin_once,
    tty: c.tty,
    ...(res ? { resources: res } : {}),
    security: containerSecurity(c.linux?.security_context),
    stopSignal: c.stop_signal && c.stop_signal !== 'RUNTIME_DEFAULT' ? c.stop_signal : '',
  };
}
