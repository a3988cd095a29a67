import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../support/daemon';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { createCtr, ctrConfig, ctrStatus, execSync, failure, GRPC, runPod, tearDown, testCgroupParent, until, type Pod } from './cri-fixture';

/**
 * UpdatePodSandboxResources through the daemon: the pod's resources plus its
 * overhead land in the pod cgroup (ours or kubelet's); bad values are
 * refused the way UpdateContainerResources refuses them, and leave the
 * cgroup as it was; a limit the pod already exceeds is FAILED_PRECONDITION.
 */

const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
const file = (cg: string, controller: string, name: string): string =>
  readFileSync(v2 ? join('/sys/fs/cgroup', cg, name) : join('/sys/fs/cgroup', controller, cg, name), 'utf8').trim();
const linux = (r: Record<string, unknown>): Record<string, unknown> => ({ cpu_period: '0', cpu_quota: '0', cpu_shares: '0', memory_limit_in_bytes: '0', ...r });

describe('UpdatePodSandboxResources', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';
  let pod: Pod;
  let podCg = '';
  let ctr = '';
  let canary = '';

  const update = (pod_sandbox_id: string, resources?: Record<string, unknown>, overhead?: Record<string, unknown>): Promise<unknown> =>
    d.runtime.call('UpdatePodSandboxResources', { pod_sandbox_id, ...(resources ? { resources: linux(resources) } : {}), ...(overhead ? { overhead: linux(overhead) } : {}) });
  const limits = (cg: string): string[] =>
    v2 ? [file(cg, '', 'memory.max'), file(cg, '', 'cpu.max')] : [file(cg, 'memory', 'memory.limit_in_bytes'), file(cg, 'cpu', 'cpu.cfs_quota_us'), file(cg, 'cpu', 'cpu.shares')];

  beforeAll(async () => {
    canary = mkdtempSync(join(tmpdir(), 'mcri-canary-'));
    writeFileSync(join(canary, 'keep'), 'untouched');
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'podres/busybox:1')).ref;
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    await d.image.call('PullImage', { image: { image: bb } });
    pod = await runPod(d, 'resize');
    podCg = `${cgroupParent}/${pod.id}`;
    ctr = await createCtr(d, pod, ctrConfig('sleeper', bb, ['sleep', '1000']));
    await d.runtime.call('StartContainer', { container_id: ctr });
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await stopTestRegistry();
    expect(readdirSync(canary)).toEqual(['keep']);
    expect(readFileSync(join(canary, 'keep'), 'utf8')).toBe('untouched');
    rmSync(canary, { recursive: true, force: true });
  });

  it('writes resources plus overhead into the pod cgroup and leaves the containers running', async () => {
    await update(
      pod.id,
      { memory_limit_in_bytes: String(128 << 20), cpu_period: '100000', cpu_quota: '50000', cpu_shares: '512' },
      { memory_limit_in_bytes: String(16 << 20), cpu_period: '100000', cpu_quota: '10000', cpu_shares: '64' },
    );
    if (v2) expect(limits(podCg)).toEqual([String(144 << 20), '60000 100000']);
    else expect(limits(podCg)).toEqual([String(144 << 20), '60000', '576']);
    expect((await ctrStatus(d, ctr)).state).toBe('CONTAINER_RUNNING');
    // And again, smaller: a resize goes both ways.
    await update(pod.id, { memory_limit_in_bytes: String(96 << 20), cpu_period: '100000', cpu_quota: '20000', cpu_shares: '256' });
    expect(limits(podCg)[0]).toBe(String(96 << 20));
    expect(limits(podCg)[1]).toMatch(/^20000/);
  });

  it('refuses what UpdateContainerResources refuses, and leaves the cgroup as it was', async () => {
    const before = limits(podCg);
    const bad: Array<[string, Promise<unknown>]> = [
      ['negative memory', update(pod.id, { memory_limit_in_bytes: '-5' })],
      ['swap below the limit', update(pod.id, { memory_limit_in_bytes: String(64 << 20), memory_swap_limit_in_bytes: String(1 << 20) })],
      ['negative overhead shares', update(pod.id, { cpu_shares: '512' }, { cpu_shares: '-1' })],
      ['a hugepage size that is not one', update(pod.id, { hugepage_limits: [{ page_size: '2MB/../../x', limit: '1' }] })],
      ['a unified key that walks out of the cgroup', update(pod.id, { unified: { [`../../../../..${canary}/keep`]: 'x' } })],
      ['a unified key that moves processes', update(pod.id, { unified: { 'cgroup.procs': '1' } })],
    ];
    for (const [what, p] of bad) expect((await failure(p)).code, what).toBe(GRPC.INVALID_ARGUMENT);
    expect(limits(podCg)).toEqual(before);
  });

  it('answers FAILED_PRECONDITION for a memory limit below what the pod uses', async () => {
    // tmpfs pages are charged to the writer's cgroup and, without swap, cannot be reclaimed.
    const hog = await createCtr(d, pod, ctrConfig('hog', bb, ['sh', '-c', 'head -c 30000000 /dev/zero > /dev/shm/fill && echo ready > /ready; sleep 1000']));
    await d.runtime.call('StartContainer', { container_id: hog });
    await until('the hog to hold its memory', async () => ((await execSync(d, hog, ['test', '-e', '/ready'])).exit_code === 0 ? true : undefined));
    const before = limits(podCg);
    const err = await failure(update(pod.id, { memory_limit_in_bytes: String(4 << 20) }));
    expect(err.code).toBe(GRPC.FAILED_PRECONDITION);
    expect(limits(podCg)[0]).toBe(before[0]);
    expect((await ctrStatus(d, hog)).state).toBe('CONTAINER_RUNNING');
  });

  it('writes into the pod cgroup kubelet names, and answers NOT_FOUND for an unknown pod', async () => {
    const kubelet = await runPod(d, 'kubelet-cg', { extra: { linux: { cgroup_parent: `${cgroupParent}/kubepods/podabc`, security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } } } });
    await update(kubelet.id, { memory_limit_in_bytes: String(200 << 20), cpu_shares: '300' });
    expect(limits(`${cgroupParent}/kubepods/podabc`)[0]).toBe(String(200 << 20));
    expect((await failure(update('0'.repeat(64), { cpu_shares: '2' }))).code).toBe(GRPC.NOT_FOUND);
  });

  it('accepts an update of a stopped pod, which runs nothing to limit', async () => {
    const stopped = await runPod(d, 'stopped');
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: stopped.id });
    await update(stopped.id, { memory_limit_in_bytes: String(64 << 20) });
  });
});
