import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContainerd, type Containerd } from '../../bench/support/containerd';
import { connect, containerState, execSync, pullImage, removePod, runPod } from '../../bench/support/cri';
import { alive, cgroupsNamed, mountsUnder, processesMatching } from '../../bench/support/host';
import { pushPause } from '../../bench/support/pause-image';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import type { TestRegistry } from '../support/registry';

/**
 * The reference containerd the benchmarks compare against: it starts from a
 * temp dir, runs a host-network pod with a busybox container through its CRI
 * socket, and `stop()` leaves no process, mount, cgroup, socket or dir behind,
 * even when a pod is still running at stop time.
 */
describe('reference containerd for benchmarks', () => {
  let reg: TestRegistry;
  let busybox = '';
  let pause = '';
  let ctrd: Containerd | undefined;
  const cgroupsBefore = cgroupsNamed('k8s.io');
  const runContainerdExisted = existsSync('/run/containerd');

  beforeAll(async () => {
    reg = await ensureTestRegistry();
    busybox = (await pushBusybox(reg, 'bench/busybox:1')).ref;
    pause = await pushPause(reg);
  });
  afterAll(async () => {
    await ctrd?.stop();
    await stopTestRegistry();
  });

  it('runs a host-network pod with a busybox container and cleans up after itself', async () => {
    ctrd = await startContainerd({ registry: reg, pauseRef: pause });
    const base = ctrd.layout.base;
    const cri = connect(ctrd.socket);
    try {
      const version = await cri.runtime.call<{ runtime_name: string }>('Version', {});
      expect(version.runtime_name).toBe('containerd');
      await pullImage(cri, busybox);
      const pod = await runPod(cri, { name: 'smoke', logDir: join(base, 'pods', 'smoke') }, { image: busybox });
      expect(await containerState(cri, pod.containerId)).toBe('CONTAINER_RUNNING');
      const res = await execSync(cri, pod.containerId, ['sh', '-c', 'echo hi-$((6*7)); hostname']);
      expect(res.exitCode).toBe(0);
      // Host network: the container sees the node's hostname, not the pod's.
      expect(res.stdout.toString()).toBe(`hi-42\n${readFileSync('/proc/sys/kernel/hostname', 'utf8').trim()}\n`);
      // containerd plus one shim for the pod, found by our unique temp path.
      expect(ctrd.runtimePids().length).toBeGreaterThanOrEqual(2);
      expect(cgroupsNamed('k8s.io').size).toBeGreaterThan(cgroupsBefore.size);
      expect(mountsUnder(base).length).toBeGreaterThan(0);
      // Leave a second pod running: stop() must clean it up on its own.
      await runPod(cri, { name: 'left', logDir: join(base, 'pods', 'left') }, { image: busybox });
      await removePod(cri, pod.podId);
      await removePod(cri, pod.podId);
    } finally {
      cri.close();
    }
    const pids = ctrd.runtimePids();
    await ctrd.stop();
    ctrd = undefined;
    // A zombie (reaped lazily by pid 1 here) holds nothing, so only live processes count.
    expect(pids.filter(alive)).toEqual([]);
    expect(processesMatching(base)).toEqual([]);
    expect(mountsUnder(base)).toEqual([]);
    expect(existsSync(base)).toBe(false);
    expect([...cgroupsNamed('k8s.io')].filter((d) => !cgroupsBefore.has(d))).toEqual([]);
    if (!runContainerdExisted) expect(existsSync('/run/containerd')).toBe(false);
  });

  it('cleans up by force when containerd died with a pod running', async () => {
    ctrd = await startContainerd({ registry: reg, pauseRef: pause });
    const { base } = ctrd.layout;
    const cri = connect(ctrd.socket);
    let pod;
    try {
      await pullImage(cri, busybox);
      pod = await runPod(cri, { name: 'orphan', logDir: join(base, 'pods', 'orphan') }, { image: busybox });
    } finally {
      cri.close();
    }
    const sleeper = processesIn(cgroupsNamed('k8s.io'), pod.containerId);
    expect(sleeper.length).toBe(1);
    const pids = ctrd.runtimePids();
    process.kill(ctrd.pid, 'SIGKILL');
    await ctrd.stop();
    ctrd = undefined;
    expect([...pids, ...sleeper].filter(alive)).toEqual([]);
    expect(processesMatching(base)).toEqual([]);
    expect(mountsUnder(base)).toEqual([]);
    expect(existsSync(base)).toBe(false);
    expect([...cgroupsNamed('k8s.io')].filter((d) => !cgroupsBefore.has(d))).toEqual([]);
    if (!runContainerdExisted) expect(existsSync('/run/containerd')).toBe(false);
  });

  it('stops one of two overlapping containerds without touching the other one\'s pod', async () => {
    const a = await startContainerd({ registry: reg, pauseRef: pause });
    let b: Containerd | undefined;
    try {
      b = await startContainerd({ registry: reg, pauseRef: pause });
      const pods = [];
      for (const c of [a, b]) {
        await pullImage(c, busybox);
        pods.push(await runPod(c, { name: 'overlap', logDir: join(c.layout.base, 'pods') }, { image: busybox }));
      }
      await a.stop();
      expect(existsSync(a.layout.base)).toBe(false);
      expect(await containerState(b, pods[1]!.containerId)).toBe('CONTAINER_RUNNING');
      expect((await execSync(b, pods[1]!.containerId, ['true'])).exitCode).toBe(0);
      const bBase = b.layout.base;
      await b.stop();
      b = undefined;
      expect(processesMatching(bBase)).toEqual([]);
      expect([...cgroupsNamed('k8s.io')].filter((d) => !cgroupsBefore.has(d))).toEqual([]);
      if (!runContainerdExisted) expect(existsSync('/run/containerd')).toBe(false);
    } finally {
      await a.stop();
      await b?.stop();
    }
  });
});

/** The pids in the pids-controller cgroup named after `containerId`. */
function processesIn(cgroups: ReadonlySet<string>, containerId: string): number[] {
  const dir = [...cgroups].find((d) => d.startsWith('/sys/fs/cgroup/pids/') && d.endsWith(`/${containerId}`));
  if (!dir) return [];
  return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
}
