import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import { cgroupsUnder, createCtr, ctrConfig, execSync, tearDown, runPod, testCgroupParent, until, type Pod } from './cri-fixture';

/**
 * The pod's infra process is started by the native helper, not by runc.
 * It must still hold what the pod's containers share (IPC namespace with
 * the pod's sysctls, /dev/shm, the PID namespace), run with nothing to
 * lose (unprivileged, no capabilities, no_new_privs, an empty root), sit in
 * the pod's cgroup, and leave nothing behind once the pod is stopped.
 */

const status = (pid: number): string => readFileSync(`/proc/${pid}/status`, 'utf8');
const field = (text: string, name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
const gone = (pid: number): boolean => {
  try {
    return /^State:\s*[ZX]/m.test(status(pid));
  } catch {
    return true;
  }
};

describe('the infra process through the daemon', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';
  let pod: Pod;
  let infraPid = 0;

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'infra/busybox:1')).ref;
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    await d.image.call('PullImage', { image: { image: bb } });
    pod = await runPod(d, 'infra', {
      extra: {
        linux: {
          sysctls: { 'kernel.shm_rmid_forced': '1', 'kernel.msgmax': '12345' },
          security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } },
        },
      },
    });
    const st = await d.runtime.call<{ info: Record<string, string> }>('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true });
    infraPid = (JSON.parse(st.info.info ?? '{}') as { pid: number }).pid;
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await stopTestRegistry();
  });

  it('runs catatonit unprivileged, capability-less, with no_new_privs, in an empty root of its own, in the pod cgroup', () => {
    expect(infraPid).toBeGreaterThan(0);
    const st = status(infraPid);
    // run from a copy it cannot read (so it is not dumpable)
    expect(field(st, 'Name')).toBe('catatonit');
    expect(field(st, 'Uid').split(/\s+/)).toEqual(['65535', '65535', '65535', '65535']);
    for (const c of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) expect(field(st, c)).toBe('0000000000000000');
    expect(field(st, 'NoNewPrivs')).toBe('1');
    // pid 1 of the pod's own pid namespace
    expect(field(st, 'NSpid').split(/\s+/).pop()).toBe('1');
    // its own mount namespace: one empty read-only tmpfs, nothing of the host's
    expect(readlinkSync(`/proc/${infraPid}/ns/mnt`)).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    expect(readFileSync(`/proc/${infraPid}/mountinfo`, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(readFileSync(`/proc/${infraPid}/cgroup`, 'utf8')).toContain(`:${cgroupParent}/${pod.id}/${pod.id}\n`);
  });

  it('gives the containers its IPC namespace with the pod sysctls, its PID namespace and one /dev/shm', async () => {
    const a = await createCtr(d, pod, ctrConfig('a', bb, ['sleep', '3600']));
    const b = await createCtr(d, pod, ctrConfig('b', bb, ['sleep', '3600']));
    for (const id of [a, b]) await d.runtime.call('StartContainer', { container_id: id });
    const seen = await execSync(d, a, ['sh', '-c', 'cat /proc/sys/kernel/shm_rmid_forced /proc/sys/kernel/msgmax; readlink /proc/self/ns/ipc; echo hi > /dev/shm/shared; ps -o comm']);
    const [rmid, msgmax, ipc, ...ps] = seen.stdout.trim().split('\n');
    expect([rmid, msgmax]).toEqual(['1', '12345']);
    expect(ipc).toBe(readlinkSync(`/proc/${infraPid}/ns/ipc`));
    expect(ps).toContain('catatonit');
    expect((await execSync(d, b, ['cat', '/dev/shm/shared'])).stdout).toBe('hi\n');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`/shm/${pod.id} `));
    expect(mounts.length).toBe(1);
    expect(mounts[0]).toMatch(/nosuid,nodev,noexec.* - tmpfs shm rw,.*size=65536k/);
  });

  it('fails a pod whose infra cannot start with the reason, and leaves nothing behind', async () => {
    const before = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('/shm/')).length;
    const err = await runPod(d, 'bad-sysctl', {
      // namespaced, so it passes validation; the kernel has no such file
      extra: { linux: { sysctls: { 'fs.mqueue.no_such_sysctl': '1' }, security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } } },
    }).catch((e: unknown) => e as { details: string });
    expect(err).toMatchObject({ details: expect.stringMatching(/fs\/mqueue\/no_such_sysctl/) });
    expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('/shm/')).length).toBe(before);
    const pods = await d.runtime.call<{ items: Array<{ metadata: { name: string } }> }>('ListPodSandbox', {});
    expect(pods.items.map((p) => p.metadata.name)).not.toContain('bad-sysctl');
    expect(cgroupsUnder(cgroupParent).length).toBe(cgroupsUnder(cgroupParent).filter((c) => c.endsWith(pod.id)).length);
  });

  it('is gone with its shm and cgroup once the pod is stopped, and a second stop is fine', async () => {
    const shmMounted = (): boolean => readFileSync('/proc/self/mountinfo', 'utf8').includes(`/shm/${pod.id} `);
    expect(shmMounted()).toBe(true);
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: pod.id });
    await until('the infra process to die', () => (gone(infraPid) ? true : undefined), 5_000);
    expect(shmMounted()).toBe(false);
    expect(cgroupsUnder(join(cgroupParent, pod.id)).filter((c) => c.endsWith(pod.id))).toEqual([]);
    const st = await d.runtime.call<{ status: { state: string } }>('PodSandboxStatus', { pod_sandbox_id: pod.id });
    expect(st.status.state).toBe('SANDBOX_NOTREADY');
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: pod.id });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
    expect(existsSync(join(d.base, 'lib', 'containerizer', 'sandboxes', pod.id))).toBe(false);
  });
});
