import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCtr, ctrConfig, execSync, failure, GRPC, runPod, runToExit, tearDown, testCgroupParent, until } from '../containerizer/cri-fixture';
import { startProxy, type TestProxy } from '../provisioner/proxies';
import { ensureBuilt, MAIN_JS } from '../support/build';
import { startDaemon, type Daemon } from '../support/daemon';
import { buildBusybox, buildImage, buildLayer, ensureTestRegistry, pushBusybox, pushImage, stopTestRegistry } from '../support/images';
import { freePort } from '../support/registry';
import { samples, scrape, value, type Sample } from '../support/prom';

/**
 * The Prometheus endpoint of a real daemon, scraped over HTTP: gRPC
 * counters and latencies by method and code, pulls (bytes, unpack time,
 * per-layer progress while in flight, stalls), pod and container start
 * phases, CNI operations and their errors, exec calls in flight, OOM
 * kills, states, process metrics, and the last recovery.
 */

const RT = { grpc_service: 'runtime.v1.RuntimeService', grpc_type: 'unary' };

describe('metrics endpoint: off by default, refused when malformed', () => {
  it('does not listen unless metrics.address is set', async () => {
    const d = await startDaemon();
    try {
      await d.runtime.call('Version', {});
      expect(d.logs()).not.toContain('metrics endpoint listening');
    } finally {
      await d.cleanup();
    }
  });

  it('stops with exit code 2 naming the key when the address is not HOST:PORT', () => {
    ensureBuilt();
    const base = join('/tmp', `mcri-metrics-${randomBytes(4).toString('hex')}`);
    mkdirSync(base, { recursive: true });
    try {
      writeFileSync(join(base, 'c.yaml'), '');
      const args = [MAIN_JS, '--config', join(base, 'c.yaml'), '--socket', join(base, 's.sock'), '--work-dir', join(base, 'lib'), '--run-dir', join(base, 'run')];
      const r = spawnSync(process.execPath, [...args, '--metrics-address', 'localhost'], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('metrics.address');
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('metrics endpoint of a running daemon', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let url = '';
  let bb = '';
  let slow: TestProxy;
  let stall: TestProxy;
  let big = { ref: '', layerDigest: '', layerSize: 0 };
  let sleeper = '';
  const m = (): Promise<Sample[]> => scrape(url);

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'metrics/busybox:1')).ref;
    // Content of its own (no config or layer the daemon holds, which a pull would not fetch), for the stalled pull.
    await pushBusybox(reg, 'metrics/stalled:1', { extra: [{ name: 'only-here', content: randomBytes(64), mode: 0o644 }] });
    // One incompressible 768 KiB layer, sent 48 KiB at a time through a slow proxy.
    const layer = await buildLayer([{ name: 'blob.bin', content: randomBytes(768 << 10) }]);
    const img = buildImage([...(await buildBusybox()).layers, layer]);
    await pushImage(reg, 'metrics/big:1', img);
    slow = await startProxy(reg.url, { throttleBlobs: { over: 256 << 10, chunk: 48 << 10, everyMs: 100 } });
    stall = await startProxy(reg.url, { stallBlobs: true });
    big = { ref: `${slow.host}/metrics/big:1`, layerDigest: layer.digest, layerSize: layer.size };
    const port = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent, '--metrics-address', `127.0.0.1:${port}`, '--pull-progress-timeout', '3'] });
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await slow?.stop();
    await stall?.stop();
    await stopTestRegistry();
  });

  it('serves the text format on /metrics only', async () => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
    expect(d.logs()).toContain('metrics endpoint listening');
  });

  it('counts RPCs by method and code, with a latency histogram', async () => {
    await d.runtime.call('Version', {});
    await d.runtime.call('Version', {});
    const nf = await failure(d.runtime.call('ContainerStatus', { container_id: 'nope' }));
    expect(nf.code).toBe(GRPC.NOT_FOUND);
    const s = await m();
    expect(value(s, 'grpc_server_handled_total', { ...RT, grpc_method: 'Version', grpc_code: 'OK' })).toBeGreaterThanOrEqual(2);
    expect(value(s, 'grpc_server_handled_total', { ...RT, grpc_method: 'ContainerStatus', grpc_code: 'NOT_FOUND' })).toBe(1);
    expect(value(s, 'grpc_server_started_total', { ...RT, grpc_method: 'ContainerStatus' })).toBe(1);
    expect(value(s, 'grpc_server_handling_seconds_count', { ...RT, grpc_method: 'Version' })).toBeGreaterThanOrEqual(2);
    expect(samples(s, 'grpc_server_handling_seconds_bucket', { ...RT, grpc_method: 'Version', le: '+Inf' })).toHaveLength(1);
  });

  it('exports the process metrics and the last recovery', async () => {
    const s = await m();
    expect(value(s, 'process_resident_memory_bytes')).toBeGreaterThan(10 << 20);
    expect(samples(s, 'process_cpu_seconds_total')).toHaveLength(1);
    expect(samples(s, 'nodejs_eventloop_lag_seconds')).toHaveLength(1);
    expect(samples(s, 'mesos_cri_recovery_duration_seconds')).toHaveLength(1);
    expect(value(s, 'mesos_cri_recovery_objects', { kind: 'sandbox', outcome: 'recovered' })).toBe(0);
  });

  it('counts pulls, downloaded bytes and layer unpacks', async () => {
    await d.image.call('PullImage', { image: { image: bb } });
    const s = await m();
    expect(value(s, 'mesos_cri_image_pulls_total', { outcome: 'success' })).toBe(1);
    expect(value(s, 'mesos_cri_image_pull_bytes_total')).toBeGreaterThan(500_000);
    expect(value(s, 'mesos_cri_image_layer_unpack_seconds_count')).toBe(1);
    expect(value(s, 'mesos_cri_image_pull_seconds_count')).toBe(1);
  });

  it('shows each layer of a pull in flight, and drops the series when it ends', async () => {
    const pull = d.image.call('PullImage', { image: { image: big.ref } });
    pull.catch(() => undefined);
    const seen = await until('the slow layer to show progress', async () => {
      const s = await m();
      const got = value(s, 'mesos_cri_image_pull_layer_downloaded_bytes', { layer: big.layerDigest });
      return got > 0 && got < big.layerSize ? s : undefined;
    });
    expect(value(seen, 'mesos_cri_image_pulls_in_progress')).toBe(1);
    expect(value(seen, 'mesos_cri_image_pull_layer_size_bytes', { layer: big.layerDigest, image: big.ref })).toBe(big.layerSize);
    await pull;
    const after = await m();
    expect(value(after, 'mesos_cri_image_pulls_in_progress')).toBe(0);
    expect(samples(after, 'mesos_cri_image_pull_layer_downloaded_bytes')).toHaveLength(0);
    expect(value(after, 'mesos_cri_image_pulls_total', { outcome: 'success' })).toBe(2);
  });

  it('counts a pull cancelled for lack of progress as stalled', async () => {
    const err = await failure(d.image.call('PullImage', { image: { image: `${stall.host}/metrics/stalled:1` } }));
    expect(err.code).toBe(4); // DEADLINE_EXCEEDED
    expect(value(await m(), 'mesos_cri_image_pulls_total', { outcome: 'stalled' })).toBe(1);
    // An image whose config and layers are all here already (busybox, pulled above) fetches only its
    // manifest, as containerd skips present content: the same proxy, stalling every blob, serves it.
    const t0 = Date.now();
    await d.image.call('PullImage', { image: { image: `${stall.host}/metrics/busybox:1` } });
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(value(await m(), 'mesos_cri_image_pulls_total', { outcome: 'stalled' })).toBe(1);
  });

  it('times pod and container starts by phase, and counts sandboxes and containers by state', async () => {
    const pod = await runPod(d, 'phases');
    const id = (sleeper = await createCtr(d, pod, ctrConfig('sleeper', bb, ['sleep', '1000'])));
    await d.runtime.call('StartContainer', { container_id: id });
    const s = await m();
    for (const phase of ['infra', 'spec', 'files', 'total']) {
      expect(value(s, 'mesos_cri_sandbox_start_phase_seconds_count', { phase }), phase).toBe(1);
    }
    for (const phase of ['rootfs', 'spec', 'conmon_runc_create', 'create_total', 'start']) {
      expect(value(s, 'mesos_cri_container_start_phase_seconds_count', { phase }), phase).toBe(1);
    }
    expect(value(s, 'mesos_cri_sandboxes', { state: 'ready' })).toBe(1);
    expect(value(s, 'mesos_cri_containers', { state: 'running' })).toBe(1);
  });

  it('counts ExecSync calls in flight', async () => {
    const exec = execSync(d, sleeper, ['sh', '-c', 'until [ -e /tmp/go ]; do sleep 0.05; done'], 30);
    await until('the exec to show', async () => (value(await m(), 'mesos_cri_exec_sessions', { kind: 'exec_sync' }) === 1 ? true : undefined));
    expect((await execSync(d, sleeper, ['touch', '/tmp/go'])).exit_code).toBe(0);
    expect((await exec).exit_code).toBe(0);
    expect(value(await m(), 'mesos_cri_exec_sessions', { kind: 'exec_sync' })).toBe(0);
  });

  it('counts OOM kills', async () => {
    const pod = await runPod(d, 'oom');
    const r = await runToExit(
      d,
      pod,
      ctrConfig('oom', bb, ['sh', '-c', 'x=y; while true; do x="$x$x"; done'], { linux: { resources: { memory_limit_in_bytes: String(32 << 20) } } }),
      60_000,
    );
    expect(r.st.reason).toBe('OOMKilled');
    expect(value(await m(), 'mesos_cri_containers_oom_killed_total')).toBe(1);
  });

  it('times CNI ADD and DEL, the netns and cni phases, and counts CNI failures', async () => {
    const cni = join(d.base, 'cni');
    mkdirSync(cni, { recursive: true });
    writeFileSync(join(cni, '10-lo.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'lo-only', plugins: [{ type: 'loopback' }] }));
    const pod = await runPod(d, 'cni', { hostNetwork: false });
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: pod.id });
    writeFileSync(join(cni, '10-lo.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'lo-only', plugins: [{ type: 'mcri-no-such-plugin' }] }));
    expect((await failure(runPod(d, 'cni-broken', { hostNetwork: false }))).code).toBe(13); // INTERNAL
    rmSync(join(cni, '10-lo.conflist'));
    const s = await m();
    expect(value(s, 'mesos_cri_network_plugin_operations_total', { operation: 'add' })).toBe(2);
    expect(value(s, 'mesos_cri_network_plugin_operations_errors_total', { operation: 'add' })).toBe(1);
    expect(value(s, 'mesos_cri_network_plugin_operations_total', { operation: 'del' })).toBeGreaterThanOrEqual(2);
    expect(value(s, 'mesos_cri_network_plugin_operations_duration_seconds_count', { operation: 'add' })).toBe(2);
    expect(value(s, 'mesos_cri_sandbox_start_phase_seconds_count', { phase: 'netns' })).toBe(2);
    expect(value(s, 'mesos_cri_sandbox_start_phase_seconds_count', { phase: 'cni' })).toBe(2);
  });

  it('reports what the next start recovered and cleaned up', async () => {
    await d.kill9();
    // A sandbox dir without a checkpoint: a daemon killed before its first write, for recovery to clean.
    mkdirSync(join(d.workDir, 'containerizer', 'sandboxes', 'f'.repeat(64)), { recursive: true });
    d = await d.restart();
    const s = await m();
    // Left: the `phases` pod with its sleeper, the `oom` pod with its exited container, the stopped `cni` pod.
    expect(value(s, 'mesos_cri_recovery_objects', { kind: 'sandbox', outcome: 'recovered' })).toBe(3);
    expect(value(s, 'mesos_cri_recovery_objects', { kind: 'container', outcome: 'recovered' })).toBe(2);
    expect(value(s, 'mesos_cri_recovery_objects', { kind: 'sandbox', outcome: 'cleaned' })).toBe(1);
    expect(value(s, 'mesos_cri_recovery_objects', { kind: 'container', outcome: 'cleaned' })).toBe(0);
    expect(value(s, 'mesos_cri_recovery_duration_seconds')).toBeGreaterThan(0);
  });
});
