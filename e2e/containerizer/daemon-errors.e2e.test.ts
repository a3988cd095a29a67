import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import {
  cgroupsUnder,
  createCtr,
  ctrConfig,
  failure,
  GRPC,
  mountsUnder,
  netnsPins,
  podConfig,
  processesOf,
  tearDown,
  runPod,
  testCgroupParent,
  type Pod,
  waitSwept,
} from './cri-fixture';
import { tree } from './fixtures';

/** Names are reserved, bad input fails with the right code and a field name, and a failure leaves nothing behind. */

describe('names, bad input and cleanup after failures, through the daemon', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';
  let pod: Pod;

  /**
   * Everything a create leaves on the host: state dirs, rootfses, runtime
   * state, mounts, processes, cgroups. Taken once RemoveContainer's sweeps
   * (behind its reply) have emptied the tombstones.
   */
  const footprint = async (): Promise<Record<string, unknown>> => {
    await waitSwept(d);
    return snapshot();
  };
  const snapshot = async (): Promise<Record<string, unknown>> => ({
    containers: (await d.runtime.call<{ containers: unknown[] }>('ListContainers', {})).containers.length,
    sandboxes: (await d.runtime.call<{ items: unknown[] }>('ListPodSandbox', {})).items.length,
    state: tree(join(d.workDir, 'containerizer')),
    rootfs: tree(join(d.workDir, 'provisioner', 'containers')),
    runc: tree(join(d.runDir, 'runc')),
    exits: tree(join(d.runDir, 'exits')),
    socks: tree(join(d.runDir, 'socks')),
    mounts: mountsUnder(d.base).sort(),
    netns: netnsPins(d.runDir),
    processes: processesOf(d.base, cgroupParent).map((p) => p.pid).sort(),
    cgroups: cgroupsUnder(`${cgroupParent}/${pod.id}`).sort(),
  });

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'errors/busybox:1')).ref;
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    await d.image.call('PullImage', { image: { image: bb } });
    pod = await runPod(d, 'errors');
  });

  afterAll(async () => {
    await tearDown(d, cgroupParent);
    await stopTestRegistry();
  });

  it('reserves sandbox and container names: ALREADY_EXISTS until removed, a new attempt is a new name', async () => {
    const dup = await failure(d.runtime.call('RunPodSandbox', { config: pod.config }));
    expect(dup.code).toBe(GRPC.ALREADY_EXISTS);
    expect(dup.details).toMatch(/errors/);
    const next = await runPod(d, 'errors', { attempt: 1 });
    expect(next.id).not.toBe(pod.id);

    const cfg = ctrConfig('dup', bb, ['sleep', '1000']);
    const first = await createCtr(d, pod, cfg);
    const again = await failure(createCtr(d, pod, cfg));
    expect(again.code).toBe(GRPC.ALREADY_EXISTS);
    expect(again.details).toMatch(/dup/);
    // The same container name in another pod is another name (the pod's
    // uid is part of it, its attempt is not: containerd's naming).
    const other = await runPod(d, 'errors-other');
    await createCtr(d, other, cfg);
    expect((await failure(createCtr(d, next, cfg))).code).toBe(GRPC.ALREADY_EXISTS);
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: other.id });
    await d.runtime.call('RemoveContainer', { container_id: first });
    const reused = await createCtr(d, pod, cfg);
    expect(reused).not.toBe(first);
    await d.runtime.call('RemoveContainer', { container_id: reused });

    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: next.id });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: next.id });
    const renamed = await runPod(d, 'errors', { attempt: 1 });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: renamed.id });
  });

  it('answers NOT_FOUND for unknown ids, and success for stopping or removing them', async () => {
    const unknown = 'f'.repeat(64);
    for (const [rpc, req] of [
      ['ContainerStatus', { container_id: unknown }],
      ['PodSandboxStatus', { pod_sandbox_id: unknown }],
      ['StartContainer', { container_id: unknown }],
      ['ContainerStats', { container_id: unknown }],
      ['PodSandboxStats', { pod_sandbox_id: unknown }],
      ['ReopenContainerLog', { container_id: unknown }],
      ['UpdateContainerResources', { container_id: unknown, linux: {} }],
      ['ExecSync', { container_id: unknown, cmd: ['true'] }],
      ['CreateContainer', { pod_sandbox_id: unknown, config: ctrConfig('x', bb, ['true']), sandbox_config: pod.config }],
    ] as const) {
      const f = await failure(d.runtime.call(rpc, req));
      expect({ rpc, code: f.code }).toEqual({ rpc, code: GRPC.NOT_FOUND });
    }
    // A container id is not a sandbox id, and the other way round.
    const c = await createCtr(d, pod, ctrConfig('kind', bb, ['true']));
    expect((await failure(d.runtime.call('PodSandboxStatus', { pod_sandbox_id: c }))).code).toBe(GRPC.NOT_FOUND);
    expect((await failure(d.runtime.call('ContainerStatus', { container_id: pod.id }))).code).toBe(GRPC.NOT_FOUND);
    await d.runtime.call('RemoveContainer', { container_id: c });

    await d.runtime.call('StopContainer', { container_id: unknown, timeout: '1' });
    await d.runtime.call('RemoveContainer', { container_id: unknown });
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: unknown });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: unknown });
    // Already removed: still fine.
    await d.runtime.call('RemoveContainer', { container_id: c });
    await d.runtime.call('StopContainer', { container_id: c });
  });

  it('fails bad container configs with the field named, leaving nothing behind', async () => {
    const before = await footprint();
    const cases: Array<{ what: string; config: object; code: number; message: RegExp }> = [
      {
        // A missing source is created (as containerd does); one below a regular file cannot be.
        what: 'bad mount source',
        config: ctrConfig('badmount', bb, ['true'], { mounts: [{ container_path: '/x', host_path: join(d.base, 'none.yaml', 'sub') }] }),
        code: GRPC.INVALID_ARGUMENT,
        message: /mounts\[0\]\.host_path/,
      },
      { what: 'image not pulled', config: ctrConfig('noimage', `${bb.split('/')[0]}/errors/missing:1`, ['true']), code: GRPC.NOT_FOUND, message: /image .*not found/ },
      { what: 'no image', config: { metadata: { name: 'noimg' }, log_path: 'x.log' }, code: GRPC.INVALID_ARGUMENT, message: /image/ },
      { what: 'no name', config: { image: { image: bb } }, code: GRPC.INVALID_ARGUMENT, message: /metadata\.name/ },
      {
        what: 'unknown user',
        config: ctrConfig('baduser', bb, ['true'], { linux: { security_context: { run_as_username: 'nosuchuser' } } }),
        code: GRPC.NOT_FOUND,
        message: /run_as_username.*nosuchuser/,
      },
      {
        what: 'privileged container in an unprivileged pod',
        config: ctrConfig('badpriv', bb, ['true'], { linux: { security_context: { privileged: true } } }),
        code: GRPC.INVALID_ARGUMENT,
        message: /privileged/,
      },
      {
        what: 'negative uid',
        config: ctrConfig('baduid', bb, ['true'], { linux: { security_context: { run_as_user: { value: '-5' } } } }),
        code: GRPC.INVALID_ARGUMENT,
        message: /run_as_user/,
      },
    ];
    for (const c of cases) {
      const f = await failure(d.runtime.call('CreateContainer', { pod_sandbox_id: pod.id, config: c.config, sandbox_config: pod.config }));
      expect({ what: c.what, code: f.code }).toEqual({ what: c.what, code: c.code });
      expect(f.details).toMatch(c.message);
      expect({ what: c.what, after: await footprint() }).toEqual({ what: c.what, after: before });
    }
    // The names of the failed creates were released.
    const ok = await createCtr(d, pod, ctrConfig('badmount', bb, ['true']));
    await d.runtime.call('RemoveContainer', { container_id: ok });
    expect(await footprint()).toEqual(before);
  });

  it('refuses a pod network without CNI config and leaves nothing behind', async () => {
    const before = await footprint();
    const f = await failure(d.runtime.call('RunPodSandbox', { config: podConfig('netless', join(d.base, 'pods', 'netless'), { hostNetwork: false }) }));
    expect(f.code).toBe(GRPC.FAILED_PRECONDITION);
    expect(f.details).toMatch(/network/i);
    expect(await footprint()).toEqual(before);
    // The name was released.
    const p = await runPod(d, 'netless');
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    expect(await footprint()).toEqual(before);
  });

  it('refuses to create in a stopped sandbox, clearly', async () => {
    const stopped = await runPod(d, 'stopped');
    const running = await createCtr(d, stopped, ctrConfig('victim', bb, ['sleep', '1000']));
    await d.runtime.call('StartContainer', { container_id: running });
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: stopped.id });
    expect((await d.runtime.call<{ status: { state: string } }>('PodSandboxStatus', { pod_sandbox_id: stopped.id })).status.state).toBe('SANDBOX_NOTREADY');
    expect((await d.runtime.call<{ status: { state: string; exit_code: number } }>('ContainerStatus', { container_id: running })).status).toMatchObject({
      state: 'CONTAINER_EXITED',
      exit_code: 137,
    });
    const f = await failure(createCtr(d, stopped, ctrConfig('late', bb, ['true'])));
    expect(f.code).toBe(GRPC.FAILED_PRECONDITION);
    expect(f.details).toMatch(new RegExp(`sandbox ${stopped.id}.*not ready`));
    const s = await failure(d.runtime.call('StartContainer', { container_id: running }));
    expect(s.code).toBe(GRPC.FAILED_PRECONDITION);
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: stopped.id }); // idempotent
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: stopped.id });
    expect((await failure(d.runtime.call('ContainerStatus', { container_id: running }))).code).toBe(GRPC.NOT_FOUND);
    await waitSwept(d);
    expect(cgroupsUnder(`${cgroupParent}/${stopped.id}`)).toEqual([]);
    expect(existsSync(join(d.workDir, 'containerizer', 'sandboxes', stopped.id))).toBe(false);
  });
});
