import type { Metric } from '../../../cri/generated/runtime/v1/Metric';
import type { MetricDescriptor } from '../../../cri/generated/runtime/v1/MetricDescriptor';
import type { ContainerStatus, ResourceStatistics } from '../../mesos-compat/containerizer';

/**
 * CRI metrics (KEP-2371): cAdvisor's metric names, which kubelet serves on
 * `/metrics/cadvisor` from these RPCs. Label keys are the runtime's part
 * (`id`, `name`, `image`, as CRI-O sends them, plus `cpu`, `interface`,
 * `failure_type`/`scope` where cAdvisor has them); kubelet appends
 * `namespace`, `pod` and `container` itself, so those must not be ours.
 * Values are `uint64`: seconds are whole seconds (CRI-O does the same).
 */

const BASE = ['id', 'name', 'image'] as const;

type Kind = 'COUNTER' | 'GAUGE';
type Labelled = { extra?: readonly string[]; values: (u: ResourceStatistics) => Array<{ labels?: string[]; value: bigint | undefined }> };
interface Family {
  readonly name: string;
  readonly help: string;
  readonly kind: Kind;
  readonly read: Labelled;
}

const one = (f: (u: ResourceStatistics) => bigint | undefined): Labelled => ({ values: (u) => [{ value: f(u) }] });
const d = (u: ResourceStatistics) => u.detail;
const secs = (ns: bigint | undefined): bigint | undefined => (ns === undefined ? undefined : ns / 1_000_000_000n);

/** Container-level families, from the container's cgroups and writable layer. */
const CONTAINER: readonly Family[] = [
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', kind: 'COUNTER', read: { extra: ['cpu'], values: (u) => [{ labels: ['total'], value: secs(u.cpuUsageNs) }] } },
  { name: 'container_cpu_user_seconds_total', help: 'Cumulative user cpu time consumed in seconds.', kind: 'COUNTER', read: one((u) => secs(d(u)?.cpuUserNs)) },
  { name: 'container_cpu_system_seconds_total', help: 'Cumulative system cpu time consumed in seconds.', kind: 'COUNTER', read: one((u) => secs(d(u)?.cpuSystemNs)) },
  { name: 'container_cpu_cfs_periods_total', help: 'Number of elapsed enforcement period intervals.', kind: 'COUNTER', read: one((u) => d(u)?.cpuPeriods) },
  { name: 'container_cpu_cfs_throttled_periods_total', help: 'Number of throttled period intervals.', kind: 'COUNTER', read: one((u) => d(u)?.cpuThrottledPeriods) },
  { name: 'container_cpu_cfs_throttled_seconds_total', help: 'Total time duration the container has been throttled.', kind: 'COUNTER', read: one((u) => secs(d(u)?.cpuThrottledNs)) },
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed.', kind: 'GAUGE', read: one((u) => u.memoryUsageBytes) },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', kind: 'GAUGE', read: one((u) => u.memoryWorkingSetBytes) },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', kind: 'GAUGE', read: one((u) => u.memoryRssBytes) },
  { name: 'container_memory_cache', help: 'Number of bytes of page cache memory.', kind: 'GAUGE', read: one((u) => d(u)?.memoryCacheBytes) },
  { name: 'container_memory_mapped_file', help: 'Size of memory mapped files in bytes.', kind: 'GAUGE', read: one((u) => d(u)?.memoryMappedFileBytes) },
  { name: 'container_memory_swap', help: 'Container swap usage in bytes.', kind: 'GAUGE', read: one((u) => d(u)?.memorySwapBytes) },
  { name: 'container_memory_kernel_usage', help: 'Size of kernel memory allocated in bytes.', kind: 'GAUGE', read: one((u) => d(u)?.memoryKernelBytes) },
  { name: 'container_memory_max_usage_bytes', help: 'Maximum memory usage recorded in bytes.', kind: 'GAUGE', read: one((u) => d(u)?.memoryMaxUsageBytes) },
  { name: 'container_memory_failcnt', help: 'Number of memory usage hits limits.', kind: 'COUNTER', read: one((u) => d(u)?.memoryFailcnt) },
  {
    name: 'container_memory_failures_total',
    help: 'Cumulative count of memory allocation failures.',
    kind: 'COUNTER',
    read: {
      extra: ['failure_type', 'scope'],
      values: (u) => [
        { labels: ['pgfault', 'hierarchy'], value: u.pageFaults },
        { labels: ['pgmajfault', 'hierarchy'], value: u.majorPageFaults },
      ],
    },
  },
  { name: 'container_oom_events_total', help: 'Count of out of memory events observed for the container.', kind: 'COUNTER', read: one((u) => d(u)?.oomKills) },
  { name: 'container_fs_usage_bytes', help: 'Number of bytes that are consumed by the container on this filesystem.', kind: 'GAUGE', read: one((u) => u.writableLayer?.bytes) },
  { name: 'container_fs_limit_bytes', help: 'Number of bytes that can be consumed by the container on this filesystem.', kind: 'GAUGE', read: one((u) => u.filesystem?.capacityBytes) },
  { name: 'container_fs_inodes_total', help: 'Number of available inodes.', kind: 'GAUGE', read: one((u) => u.filesystem?.inodesTotal) },
  { name: 'container_fs_inodes_free', help: 'Number of available inodes.', kind: 'GAUGE', read: one((u) => u.filesystem?.inodesFree) },
  { name: 'container_processes', help: 'Number of processes running inside the container.', kind: 'GAUGE', read: one((u) => d(u)?.processes) },
  { name: 'container_threads', help: 'Number of threads running inside the container.', kind: 'GAUGE', read: one((u) => d(u)?.threads) },
  { name: 'container_threads_max', help: 'Maximum number of threads allowed inside the container, infinity if value is zero.', kind: 'GAUGE', read: one((u) => d(u)?.threadsMax) },
  { name: 'container_file_descriptors', help: 'Number of open file descriptors for the container.', kind: 'GAUGE', read: one((u) => d(u)?.fileDescriptors) },
  { name: 'container_sockets', help: 'Number of open sockets for the container.', kind: 'GAUGE', read: one((u) => d(u)?.sockets) },
  { name: 'container_spec_cpu_period', help: 'CPU period of the container.', kind: 'GAUGE', read: one((u) => d(u)?.limits.cpuPeriod) },
  { name: 'container_spec_cpu_quota', help: 'CPU quota of the container.', kind: 'GAUGE', read: one((u) => d(u)?.limits.cpuQuota) },
  { name: 'container_spec_cpu_shares', help: 'CPU share of the container.', kind: 'GAUGE', read: one((u) => d(u)?.limits.cpuShares) },
  { name: 'container_spec_memory_limit_bytes', help: 'Memory limit for the container.', kind: 'GAUGE', read: one((u) => d(u)?.limits.memoryLimitBytes) },
  { name: 'container_spec_memory_reservation_limit_bytes', help: 'Memory reservation limit for the container.', kind: 'GAUGE', read: one((u) => d(u)?.limits.memoryReservationBytes) },
  { name: 'container_spec_memory_swap_limit_bytes', help: 'Memory swap limit for the container.', kind: 'GAUGE', read: one((u) => d(u)?.limits.memorySwapLimitBytes) },
  { name: 'container_last_seen', help: 'Last time a container was seen by the exporter', kind: 'GAUGE', read: one((u) => u.timestampNs / 1_000_000_000n) },
];

type Iface = NonNullable<ResourceStatistics['network']>[number];
const perInterface = (f: (i: Iface) => bigint): Labelled => ({ extra: ['interface'], values: (u) => (u.network ?? []).map((i) => ({ labels: [i.name], value: f(i) })) });

/** Pod-level families, from the pod's network namespace (containers share it, as CRI-O reports them). */
const POD: readonly Family[] = [
  { name: 'container_network_receive_bytes_total', help: 'Cumulative count of bytes received', kind: 'COUNTER', read: perInterface((i) => i.rxBytes) },
  { name: 'container_network_receive_packets_total', help: 'Cumulative count of packets received', kind: 'COUNTER', read: perInterface((i) => i.rxPackets) },
  { name: 'container_network_receive_packets_dropped_total', help: 'Cumulative count of packets dropped while receiving', kind: 'COUNTER', read: perInterface((i) => i.rxDropped) },
  { name: 'container_network_receive_errors_total', help: 'Cumulative count of errors encountered while receiving', kind: 'COUNTER', read: perInterface((i) => i.rxErrors) },
  { name: 'container_network_transmit_bytes_total', help: 'Cumulative count of bytes transmitted', kind: 'COUNTER', read: perInterface((i) => i.txBytes) },
  { name: 'container_network_transmit_packets_total', help: 'Cumulative count of packets transmitted', kind: 'COUNTER', read: perInterface((i) => i.txPackets) },
  { name: 'container_network_transmit_packets_dropped_total', help: 'Cumulative count of packets dropped while transmitting', kind: 'COUNTER', read: perInterface((i) => i.txDropped) },
  { name: 'container_network_transmit_errors_total', help: 'Cumulative count of errors encountered while transmitting', kind: 'COUNTER', read: perInterface((i) => i.txErrors) },
];

/** `ListMetricDescriptors`: every family either level may send. */
export const metricDescriptors = (): MetricDescriptor[] =>
  [...CONTAINER, ...POD].map((f) => ({ name: f.name, help: f.help, label_keys: [...BASE, ...(f.read.extra ?? [])] }));

function metrics(families: readonly Family[], base: readonly string[], u: ResourceStatistics): Metric[] {
  const out: Metric[] = [];
  for (const f of families) {
    for (const v of f.read.values(u)) {
      if (v.value === undefined || v.value < 0n) continue;
      out.push({ name: f.name, timestamp: u.timestampNs.toString(), metric_type: f.kind, label_values: [...base, ...(v.labels ?? [])], value: { value: v.value.toString() } });
    }
  }
  return out;
}

/** The `name` label: the container's name as dockershim and CRI-O render it (`k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`). */
export function containerMetrics(c: ContainerStatus, sandbox: { name: string; namespace: string; uid: string }, u: ResourceStatistics): Metric[] {
  const name = `k8s_${c.config.name}_${sandbox.name}_${sandbox.namespace}_${sandbox.uid}_${c.config.attempt}`;
  return metrics(CONTAINER, [c.id, name, c.image?.ref ?? c.config.image], u);
}

/** Pod-level metrics carry the name `POD` and no image, as CRI-O sends them. */
export const podMetrics = (sandboxId: string, u: ResourceStatistics): Metric[] => metrics(POD, [sandboxId, 'POD', ''], u);
