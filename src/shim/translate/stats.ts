import type { ContainerStats } from '../../../cri/generated/runtime/v1/ContainerStats';
import type { CpuUsage } from '../../../cri/generated/runtime/v1/CpuUsage';
import type { MemoryUsage } from '../../../cri/generated/runtime/v1/MemoryUsage';
import type { NetworkUsage } from '../../../cri/generated/runtime/v1/NetworkUsage';
import type { PodSandboxStats } from '../../../cri/generated/runtime/v1/PodSandboxStats';
import type { ContainerStatus, ResourceStatistics, SandboxStatus } from '../../mesos-compat/containerizer';

const u64 = (v: bigint | undefined): { value: string } | null => (v === undefined ? null : { value: v.toString() });

/**
 * `usage_nano_cores` is a rate: CPU time between two samples over the wall
 * time between them (cadvisor does the same); the first sample has none.
 */
export class CpuRates {
  readonly #last = new Map<string, { t: bigint; cpu: bigint }>();

  rate(id: string, t: bigint, cpu: bigint | undefined): bigint | undefined {
    if (cpu === undefined) return undefined;
    const prev = this.#last.get(id);
    this.#last.set(id, { t, cpu });
    if (this.#last.size > 10_000) this.#last.delete(this.#last.keys().next().value!);
    if (!prev || t <= prev.t || cpu < prev.cpu) return undefined;
    return ((cpu - prev.cpu) * 1_000_000_000n) / (t - prev.t);
  }
}

function cpuOf(id: string, u: ResourceStatistics, rates: CpuRates): CpuUsage {
  return {
    timestamp: u.timestampNs.toString(),
    usage_core_nano_seconds: u64(u.cpuUsageNs),
    usage_nano_cores: u64(rates.rate(id, u.timestampNs, u.cpuUsageNs)),
  };
}

function memoryOf(u: ResourceStatistics): MemoryUsage {
  return {
    timestamp: u.timestampNs.toString(),
    working_set_bytes: u64(u.memoryWorkingSetBytes),
    usage_bytes: u64(u.memoryUsageBytes),
    rss_bytes: u64(u.memoryRssBytes),
    page_faults: u64(u.pageFaults),
    major_page_faults: u64(u.majorPageFaults),
  };
}

export function containerStats(c: ContainerStatus, u: ResourceStatistics, rates: CpuRates, mountpoint: string): ContainerStats {
  return {
    attributes: { id: c.id, metadata: { name: c.config.name, attempt: c.config.attempt }, labels: { ...c.config.labels }, annotations: { ...c.config.annotations } },
    cpu: cpuOf(c.id, u, rates),
    memory: memoryOf(u),
    writable_layer: u.writableLayer
      ? { timestamp: u.timestampNs.toString(), fs_id: { mountpoint }, used_bytes: u64(u.writableLayer.bytes), inodes_used: u64(u.writableLayer.inodes) }
      : null,
  };
}

/** The pod's interfaces: `eth0` (the CNI interface) is the default one; all are listed. */
function networkOf(u: ResourceStatistics): NetworkUsage | null {
  if (!u.network || u.network.length === 0) return null;
  const iface = (i: NonNullable<ResourceStatistics['network']>[number]) => ({
    name: i.name,
    rx_bytes: u64(i.rxBytes),
    rx_errors: u64(i.rxErrors),
    tx_bytes: u64(i.txBytes),
    tx_errors: u64(i.txErrors),
  });
  const def = u.network.find((i) => i.name === 'eth0') ?? u.network[0]!;
  return { timestamp: u.timestampNs.toString(), default_interface: iface(def), interfaces: u.network.map(iface) };
}

export function podSandboxStats(s: SandboxStatus, u: ResourceStatistics, containers: ContainerStats[], rates: CpuRates): PodSandboxStats {
  return {
    attributes: {
      id: s.id,
      metadata: { name: s.config.name, uid: s.config.uid, namespace: s.config.namespace, attempt: s.config.attempt },
      labels: { ...s.config.labels },
      annotations: { ...s.config.annotations },
    },
    linux: { cpu: cpuOf(s.id, u, rates), memory: memoryOf(u), network: networkOf(u), containers },
  };
}
