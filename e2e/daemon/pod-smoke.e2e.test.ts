import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';

/** The whole path through the socket: pull from a loopback registry, run a host-network pod, read its log. */
describe('a pod through the daemon socket', () => {
  let d: Daemon;
  let ref = '';
  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    ref = (await pushBusybox(reg, 'smoke/busybox:1')).ref;
    d = await startDaemon();
  });
  afterAll(async () => {
    await d?.cleanup();
    await stopTestRegistry();
  });

  it('pulls, runs, logs, stops and removes', async () => {
    const pulled = await d.image.call<{ image_ref: string }>('PullImage', { image: { image: ref } });
    expect(pulled.image_ref).toMatch(/^sha256:[0-9a-f]{64}$/);
    const logDir = join(d.base, 'pods', 'smoke');
    const sandboxConfig = {
      metadata: { name: 'smoke', namespace: 'default', uid: 'uid-smoke', attempt: 0 },
      log_directory: logDir,
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
    const { pod_sandbox_id } = await d.runtime.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig });
    const { container_id } = await d.runtime.call<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id,
      config: { metadata: { name: 'c', attempt: 0 }, image: { image: ref }, command: ['/bin/sh', '-c', 'echo hello-$((6*7)); exit 3'], log_path: 'c.log' },
      sandbox_config: sandboxConfig,
    });
    await d.runtime.call('StartContainer', { container_id });
    const streamed = await d.runtime.stream<{ containers: Array<{ id: string }> }>('StreamContainers', { filter: { pod_sandbox_id } });
    expect(streamed.flatMap((m) => m.containers.map((c) => c.id))).toEqual([container_id]);
    const pods = await d.runtime.stream<{ pod_sandboxes: Array<{ id: string }> }>('StreamPodSandboxes', {});
    expect(pods.flatMap((m) => m.pod_sandboxes.map((p) => p.id))).toEqual([pod_sandbox_id]);
    let st: { status: { state: string; exit_code: number; reason: string } } | undefined;
    for (let i = 0; i < 100; i++) {
      st = await d.runtime.call('ContainerStatus', { container_id });
      if (st!.status.state === 'CONTAINER_EXITED') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(st!.status).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 3, reason: 'Error' });
    expect(readFileSync(join(logDir, 'c.log'), 'utf8')).toMatch(/^\S+ stdout F hello-42$/m);
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id });
    const list = await d.runtime.call<{ items: unknown[] }>('ListPodSandbox', {});
    expect(list.items).toHaveLength(0);
  });
});
