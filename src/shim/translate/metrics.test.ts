import { describe, expect, it } from 'vitest';
import type { ContainerStatus, ResourceStatistics } from '../../mesos-compat/containerizer';
import { containerMetrics, metricDescriptors, podMetrics } from './metrics';

const usage: ResourceStatistics = {
  timestampNs: 1_700_000_000_123_000_000n,
  cpuUsageNs: 2_900_000_000n,
  memoryUsageBytes: 4096n,
  memoryWorkingSetBytes: 2048n,
  memoryRssBytes: 1024n,
  pageFaults: 9n,
  majorPageFaults: 1n,
  writableLayer: { bytes: 512n, inodes: 3n },
  network: [{ name: 'eth0', rxBytes: 10n, rxPackets: 1n, rxErrors: 0n, rxDropped: 0n, txBytes: 20n, txPackets: 2n, txErrors: 0n, txDropped: 0n }],
  detail: { cpuUserNs: 1_500_000_000n, cpuSystemNs: 1_400_000_000n, processes: 2n, limits: { cpuQuota: 0n, memoryLimitBytes: 0n } },
};
const ctr = { id: 'c1', config: { name: 'web', attempt: 1, image: 'busybox' }, image: { ref: 'docker.io/library/busybox:1' } } as unknown as ContainerStatus;

describe('CRI metrics', () => {
  it('describes each family once, without the labels kubelet adds itself', () => {
    const ds = metricDescriptors();
    expect(new Set(ds.map((d) => d.name)).size).toBe(ds.length);
    for (const d of ds) {
      expect(d.label_keys!.slice(0, 3)).toEqual(['id', 'name', 'image']);
      expect(d.label_keys).not.toContain('namespace');
      expect(d.label_keys).not.toContain('pod');
      expect(d.label_keys).not.toContain('container');
    }
    for (const n of ['container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_memory_rss', 'container_fs_usage_bytes', 'container_network_receive_bytes_total']) {
      expect(ds.map((d) => d.name)).toContain(n);
    }
  });

  it('gives every sample as many label values as its descriptor has keys', () => {
    const keys = new Map(metricDescriptors().map((d) => [d.name, d.label_keys!.length]));
    const all = [...containerMetrics(ctr, { name: 'pod', namespace: 'ns', uid: 'u' }, usage), ...podMetrics('s1', usage)];
    expect(all.length).toBeGreaterThan(10);
    for (const m of all) expect(m.label_values!.length, m.name).toBe(keys.get(m.name));
  });

  it('renders values, labels, types and the sample time', () => {
    const ms = containerMetrics(ctr, { name: 'pod', namespace: 'ns', uid: 'u' }, usage);
    const cpu = ms.find((m) => m.name === 'container_cpu_usage_seconds_total')!;
    expect(cpu).toEqual({
      name: 'container_cpu_usage_seconds_total',
      timestamp: '1700000000123000000',
      metric_type: 'COUNTER',
      label_values: ['c1', 'k8s_web_pod_ns_u_1', 'docker.io/library/busybox:1', 'total'],
      value: { value: '2' },
    });
    expect(ms.find((m) => m.name === 'container_memory_working_set_bytes')).toMatchObject({ metric_type: 'GAUGE', value: { value: '2048' } });
    expect(ms.find((m) => m.name === 'container_fs_usage_bytes')?.value).toEqual({ value: '512' });
    expect(ms.find((m) => m.name === 'container_memory_cache')).toBeUndefined(); // not read: left out
    const net = podMetrics('s1', usage).find((m) => m.name === 'container_network_transmit_bytes_total')!;
    expect(net.label_values).toEqual(['s1', 'POD', '', 'eth0']);
    expect(net.value).toEqual({ value: '20' });
  });
});
