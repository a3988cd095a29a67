import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Wire } from '../support/driver';
import type { ImageName } from '../support/images';
import type { Kit } from './types';

/**
 * Requests shaped like the ones kubelet (1.30) sends for a BestEffort pod
 * with one container and nothing special in its spec: its masked and
 * read-only /proc lists, BestEffort resources (2 CPU shares, the 100 ms CFS
 * period, oom_score_adj 1000, a zero hugepage limit for every page size the
 * node has), its /etc/hosts, termination log and service-account mounts,
 * the pod's cgroup parent, cluster DNS, its labels and annotations.
 * Variants spread over these.
 */

export const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** kubelet's page-size names for the node's hugepage pools (`hugepages-2048kB` -> `2MB`). */
export function nodePageSizes(): string[] {
  let dirs: string[] = [];
  try {
    dirs = readdirSync('/sys/kernel/mm/hugepages');
  } catch {
    return [];
  }
  return dirs.flatMap((d) => {
    const kb = Number(/^hugepages-(\d+)kB$/.exec(d)?.[1]);
    if (!kb) return [];
    return [kb >= 1 << 20 ? `${kb >> 20}GB` : kb >= 1 << 10 ? `${kb >> 10}MB` : `${kb}KB`];
  });
}

export const NS = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } as const;

/** A stable UUID-shaped pod uid per pod name (the same on both runtimes). */
export function podUid(name: string): string {
  const h = createHash('sha1').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** RunPodSandbox as kubelet sends it; `linux.cgroup_parent` gets each runtime's root prefixed. */
export function kubeletPod(name: string, over: { hostNetwork?: boolean; linux?: Wire; extra?: Wire } = {}): Wire {
  const uid = podUid(name);
  const hostNetwork = over.hostNetwork ?? false;
  const sc = { namespace_options: { ...NS, ...(hostNetwork ? { network: 'NODE' } : {}) }, seccomp: { profile_type: 'Unconfined' }, ...(over.linux?.security_context as Wire | undefined) };
  return {
    metadata: { name, namespace: 'diff', uid, attempt: 0 },
    ...(hostNetwork ? {} : { hostname: name }),
    dns_config: { servers: ['10.96.0.10'], searches: ['diff.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], options: ['ndots:5'] },
    port_mappings: [],
    labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'diff', 'io.kubernetes.pod.uid': uid },
    annotations: { 'kubernetes.io/config.seen': '2026-01-01T00:00:00Z', 'kubernetes.io/config.source': 'api' },
    linux: { cgroup_parent: `/kubepods/besteffort/pod${uid}`, sysctls: {}, ...over.linux, security_context: sc },
    ...over.extra,
  };
}

/** BestEffort `LinuxContainerResources`. */
export function bestEffort(): Wire {
  return {
    cpu_period: 100000,
    cpu_quota: 0,
    cpu_shares: 2,
    memory_limit_in_bytes: 0,
    oom_score_adj: 1000,
    cpuset_cpus: '',
    cpuset_mems: '',
    hugepage_limits: nodePageSizes().map((page_size) => ({ page_size, limit: 0 })),
    unified: {},
    memory_swap_limit_in_bytes: 0,
  };
}

export interface ContainerOver {
  /** One of the suite's images by name, or a reference; kubelet creates containers by image id (the default). */
  readonly image?: ImageName | string;
  readonly command?: string[];
  readonly args?: string[];
  readonly envs?: Array<{ key: string; value: string }>;
  readonly mounts?: Wire[];
  /** Merged over kubelet's security context. */
  readonly security?: Wire;
  /** Merged over BestEffort resources. */
  readonly resources?: Wire;
  /** Anything else at the top level (tty, working_dir, devices...). */
  readonly extra?: Wire;
}

/** CreateContainer's config as kubelet sends it for a plain container. */
export function kubeletContainer(kit: Kit, name: string, over: ContainerOver = {}): Wire {
  const k = join(kit.hostDir, 'kubelet');
  const mount = (container_path: string, host_path: string, readonly = false): Wire => ({ container_path, host_path, readonly, selinux_relabel: false, propagation: 'PROPAGATION_PRIVATE' });
  return {
    metadata: { name, attempt: 0 },
    image: { image: over.image === undefined ? kit.images.probeId : (kit.images.refs[over.image as ImageName] ?? over.image) },
    ...(over.command ? { command: over.command } : {}),
    ...(over.args ? { args: over.args } : {}),
    envs: [
      { key: 'KUBERNETES_SERVICE_HOST', value: '10.96.0.1' },
      { key: 'KUBERNETES_SERVICE_PORT', value: '443' },
      { key: 'KUBERNETES_PORT', value: 'tcp://10.96.0.1:443' },
      ...(over.envs ?? []),
    ],
    mounts: [
      mount('/etc/hosts', join(k, 'etc-hosts')),
      mount('/dev/termination-log', join(k, 'termination-log')),
      mount('/var/run/secrets/kubernetes.io/serviceaccount', join(k, 'serviceaccount'), true),
      ...(over.mounts ?? []),
    ],
    labels: { 'io.kubernetes.container.name': name, 'io.kubernetes.pod.name': 'p', 'io.kubernetes.pod.namespace': 'diff' },
    annotations: { 'io.kubernetes.container.hash': 'abcd1234', 'io.kubernetes.container.restartCount': '0', 'io.kubernetes.container.terminationMessagePath': '/dev/termination-log' },
    log_path: `${name}/0.log`,
    linux: {
      resources: { ...bestEffort(), ...over.resources },
      security_context: {
        namespace_options: NS,
        masked_paths: MASKED_PATHS,
        readonly_paths: READONLY_PATHS,
        seccomp: { profile_type: 'Unconfined' },
        ...over.security,
      },
    },
    ...over.extra,
  };
}

/** The same container as crictl users write it: no kubelet fields at all. */
export function plainContainer(kit: Kit, name: string, extra: Wire = {}): Wire {
  return { metadata: { name, attempt: 0 }, image: { image: kit.images.refs.probe }, log_path: `${name}.log`, ...extra };
}
