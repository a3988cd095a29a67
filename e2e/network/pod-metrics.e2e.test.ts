import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, netFixture, PLUGIN_DIR, type NetFixture } from '../cni/helpers';
import { createCtr, ctrConfig, execSync, podConfig, runPod, tearDown, testCgroupParent, until, type Pod } from '../containerizer/cri-fixture';
import { startDaemon, type Daemon } from '../support/daemon';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';

/**
 * ListMetricDescriptors, ListPodSandboxMetrics and StreamPodSandboxMetrics
 * through the daemon, on a pod with a CNI bridge network: cAdvisor's names
 * and labels, and values that agree with what PodSandboxStats and
 * ContainerStats report around the same moment (counters between a
 * reading before and one after; settled gauges equal).
 */

interface WireMetric {
  name: string;
  timestamp: string;
  metric_type: 'COUNTER' | 'GAUGE';
  label_values: string[];
  value: { value: string };
}
interface PodMetrics {
  pod_sandbox_id: string;
  metrics: WireMetric[];
  container_metrics: Array<{ container_id: string; metrics: WireMetric[] }>;
}
type U64 = { value: string } | null;

const find = (ms: readonly WireMetric[], name: string, extra?: string): WireMetric | undefined =>
  ms.find((m) => m.name === name && (extra === undefined || m.label_values.at(-1) === extra));
const num = (m: WireMetric | undefined): bigint => BigInt(m?.value.value ?? '-1');
const u64 = (v: U64): bigint => BigInt(v?.value ?? '-1');

describe.runIf(canRun())('CRI metrics RPCs on a networked pod', () => {
  const cgroupParent = testCgroupParent();
  let fx: NetFixture;
  let d: Daemon;
  let bb = '';
  let pod: Pod & { ip: string };
  let hostPod: Pod;
  let ctr = '';

  const list = async (): Promise<PodMetrics[]> => (await d.runtime.call<{ pod_metrics: PodMetrics[] }>('ListPodSandboxMetrics', {})).pod_metrics;
  const podStats = async (): Promise<{
    linux: {
      cpu: { usage_core_nano_seconds: U64 };
      network: { default_interface: { name: string; rx_bytes: U64; tx_bytes: U64 }; interfaces: Array<{ name: string }> } | null;
      containers: Array<{
        attributes: { id: string };
        cpu: { usage_core_nano_seconds: U64 };
        memory: { working_set_bytes: U64; rss_bytes: U64 };
        writable_layer: { used_bytes: U64 } | null;
      }>;
    };
  }> => (await d.runtime.call<{ stats: never }>('PodSandboxStats', { pod_sandbox_id: pod.id })).stats;

  beforeAll(async () => {
    fx = await netFixture({ bridge: 'mcri-pm0', subnet: '10.247.0.0/24', network: 'mcri-e2e-metrics' });
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'podmetrics/busybox:1')).ref;
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent, '--cni-bin-dir', PLUGIN_DIR] });
    mkdirSync(join(d.base, 'cni'), { recursive: true });
    writeFileSync(join(d.base, 'cni', '10-metrics.conflist'), JSON.stringify(fx.conflist()));
    await d.image.call('PullImage', { image: { image: bb } });
    const config = podConfig('metrics', join(d.base, 'pods', 'metrics'), { hostNetwork: false });
    const { pod_sandbox_id: id } = await d.runtime.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config });
    const st = await d.runtime.call<{ status: { network: { ip: string } } }>('PodSandboxStatus', { pod_sandbox_id: id });
    pod = { id, config, logDir: join(d.base, 'pods', 'metrics'), ip: st.status.network.ip };
    ctr = await createCtr(
      d,
      pod,
      ctrConfig('worker', bb, ['sh', '-c', 'head -c 1048576 /dev/zero > /data.bin; sleep 1000 & sleep 1000 & wait'], {
        linux: { resources: { memory_limit_in_bytes: String(64 << 20), cpu_period: '100000', cpu_quota: '50000' } },
      }),
    );
    await d.runtime.call('StartContainer', { container_id: ctr });
    await until('the worker to write its file', async () => ((await execSync(d, ctr, ['sh', '-c', '[ $(wc -c < /data.bin) -eq 1048576 ]'])).exit_code === 0 ? true : undefined));
    // Traffic on the pod's eth0, both ways: SYNs to a closed port, RSTs back.
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const s = connect({ host: pod.ip, port: 9 });
        s.once('error', () => resolve());
        s.once('connect', () => {
          s.destroy();
          resolve();
        });
      });
    }
    hostPod = await runPod(d, 'hostnet');
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await fx?.cleanup();
    await stopTestRegistry();
  });

  it('describes cAdvisor families with id, name and image labels', async () => {
    const { descriptors } = await d.runtime.call<{ descriptors: Array<{ name: string; help: string; label_keys: string[] }> }>('ListMetricDescriptors', {});
    const byName = new Map(descriptors.map((x) => [x.name, x]));
    for (const n of ['container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_memory_rss', 'container_fs_usage_bytes', 'container_network_receive_bytes_total', 'container_spec_memory_limit_bytes']) {
      expect(byName.get(n)?.label_keys.slice(0, 3), n).toEqual(['id', 'name', 'image']);
      expect(byName.get(n)?.help).not.toBe('');
    }
    expect(byName.get('container_network_receive_bytes_total')?.label_keys).toEqual(['id', 'name', 'image', 'interface']);
    expect(byName.get('container_cpu_usage_seconds_total')?.label_keys).toEqual(['id', 'name', 'image', 'cpu']);
  });

  it('lists ready pods with their running containers, every sample matching its descriptor', async () => {
    const { descriptors } = await d.runtime.call<{ descriptors: Array<{ name: string; label_keys: string[] }> }>('ListMetricDescriptors', {});
    const keys = new Map(descriptors.map((x) => [x.name, x.label_keys.length]));
    const pods = await list();
    expect(pods.map((p) => p.pod_sandbox_id).sort()).toEqual([pod.id, hostPod.id].sort());
    const mine = pods.find((p) => p.pod_sandbox_id === pod.id)!;
    expect(mine.container_metrics.map((c) => c.container_id)).toEqual([ctr]);
    for (const m of [...mine.metrics, ...mine.container_metrics[0]!.metrics]) {
      expect(m.label_values.length, m.name).toBe(keys.get(m.name));
      expect(BigInt(m.timestamp)).toBeGreaterThan(0n);
    }
    const cpu = find(mine.container_metrics[0]!.metrics, 'container_cpu_usage_seconds_total')!;
    expect(cpu.label_values).toEqual([ctr, 'k8s_worker_metrics_e2e_uid-metrics_0', bb, 'total']);
    expect(cpu.metric_type).toBe('COUNTER');
    expect(find(mine.metrics, 'container_network_receive_bytes_total', 'eth0')?.label_values.slice(0, 3)).toEqual([pod.id, 'POD', '']);
    // A host-network pod has no network of its own to report.
    expect(pods.find((p) => p.pod_sandbox_id === hostPod.id)!.metrics).toEqual([]);
  });

  it('agrees with PodSandboxStats and ContainerStats', async () => {
    const before = await podStats();
    const [mine] = (await list()).filter((p) => p.pod_sandbox_id === pod.id);
    const after = await podStats();
    const cm = mine!.container_metrics[0]!.metrics;
    const [cb, ca] = [before.linux.containers[0]!, after.linux.containers[0]!];
    // Counters: between the readings before and after.
    const cpuSecs = num(find(cm, 'container_cpu_usage_seconds_total'));
    expect(cpuSecs).toBeGreaterThanOrEqual(u64(cb.cpu.usage_core_nano_seconds) / 1_000_000_000n);
    expect(cpuSecs).toBeLessThanOrEqual(u64(ca.cpu.usage_core_nano_seconds) / 1_000_000_000n);
    const net = (s: typeof before) => s.linux.network!.default_interface;
    expect(net(before).name).toBe('eth0');
    const rx = num(find(mine!.metrics, 'container_network_receive_bytes_total', 'eth0'));
    const tx = num(find(mine!.metrics, 'container_network_transmit_bytes_total', 'eth0'));
    expect(rx).toBeGreaterThanOrEqual(u64(net(before).rx_bytes));
    expect(rx).toBeLessThanOrEqual(u64(net(after).rx_bytes));
    expect(tx).toBeGreaterThanOrEqual(u64(net(before).tx_bytes));
    expect(tx).toBeLessThanOrEqual(u64(net(after).tx_bytes));
    expect(rx).toBeGreaterThanOrEqual(3n * 54n); // the three SYNs at least
    expect(num(find(mine!.metrics, 'container_network_receive_packets_total', 'eth0'))).toBeGreaterThanOrEqual(3n);
    // Settled gauges of an idle container: the same as the stats around them.
    const ws = num(find(cm, 'container_memory_working_set_bytes'));
    expect([u64(cb.memory.working_set_bytes), u64(ca.memory.working_set_bytes)]).toContain(ws);
    const rss = num(find(cm, 'container_memory_rss'));
    expect([u64(cb.memory.rss_bytes), u64(ca.memory.rss_bytes)]).toContain(rss);
    const fsUsed = num(find(cm, 'container_fs_usage_bytes'));
    expect(fsUsed).toBe(u64(ca.writable_layer!.used_bytes));
    expect(fsUsed).toBeGreaterThanOrEqual(1n << 20n);
  });

  it('reports the limits, processes and threads from the container cgroup', async () => {
    // The shell and its two sleeps (an exec's processes would count while they run).
    const cm = await until('the worker to run its three processes', async () => {
      const ms = (await list()).find((p) => p.pod_sandbox_id === pod.id)!.container_metrics[0]!.metrics;
      return num(find(ms, 'container_processes')) === 3n ? ms : undefined;
    });
    expect(num(find(cm, 'container_spec_memory_limit_bytes'))).toBe(64n << 20n);
    expect(num(find(cm, 'container_spec_cpu_quota'))).toBe(50000n);
    expect(num(find(cm, 'container_spec_cpu_period'))).toBe(100000n);
    expect(num(find(cm, 'container_processes'))).toBe(3n);
    expect(num(find(cm, 'container_threads'))).toBeGreaterThanOrEqual(3n);
    expect(num(find(cm, 'container_file_descriptors'))).toBeGreaterThanOrEqual(3n);
    expect(find(cm, 'container_memory_failures_total', 'hierarchy')).toBeDefined();
    expect(num(find(cm, 'container_oom_events_total'))).toBe(0n);
  });

  it('streams the same pods and families as the list', async () => {
    const listed = await list();
    const streamed = (await d.runtime.stream<{ pod_sandbox_metrics: PodMetrics[] }>('StreamPodSandboxMetrics', {})).flatMap((r) => r.pod_sandbox_metrics);
    expect(streamed.map((p) => p.pod_sandbox_id).sort()).toEqual(listed.map((p) => p.pod_sandbox_id).sort());
    const names = (ps: PodMetrics[]) => ps.flatMap((p) => [...p.metrics, ...p.container_metrics.flatMap((c) => c.metrics)].map((m) => `${p.pod_sandbox_id} ${m.name} ${m.label_values.join(',')}`)).sort();
    expect(names(streamed)).toEqual(names(listed));
  });

  it('leaves out exited containers and stopped pods', async () => {
    await d.runtime.call('StopContainer', { container_id: ctr, timeout: '0' });
    expect((await list()).find((p) => p.pod_sandbox_id === pod.id)!.container_metrics).toEqual([]);
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: pod.id });
    expect((await list()).map((p) => p.pod_sandbox_id)).toEqual([hostPod.id]);
  });
});
