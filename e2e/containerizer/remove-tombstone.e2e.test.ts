import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOW_PRIORITY_NICE } from '../../src/common/ctx';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import {
  cgroupsUnder,
  createCtr,
  ctrConfig,
  ctrStatus,
  failure,
  GRPC,
  killPids,
  mountsUnder,
  processesOf,
  removeCgroupTree,
  runPod,
  testCgroupParent,
  until,
  waitExited,
  waitSwept,
} from './cri-fixture';

/**
 * RemoveContainer answers once the container's dir is a tombstone; runc's
 * state, the cgroups, the rootfs mount and conmon's files go behind the
 * reply. Here the sweep is held inside `runc delete` (a wrapper around the
 * real runc blocks on a gate file), the daemon is SIGKILLed between the
 * reply and the sweep, and the restarted daemon must finish the removal:
 * the container never comes back and nothing of it is left on the host,
 * while its neighbour in the same pod keeps running untouched.
 */

const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

describe('RemoveContainer behind the reply, with SIGKILL before the sweep', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';
  let other = '';
  let gate = '';
  /** Every runtime call, as `<niceness> <args>`. */
  let calls = '';

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'tombstone/busybox:1')).ref;
    // Layers of its own (an extra file): removing it must not touch busybox's.
    other = (await pushBusybox(reg, 'tombstone/other:1', { extra: [{ name: 'only-here', content: Buffer.from('tombstone-e2e\n'), mode: 0o644 }] })).ref;
    const base = mkdtempSync(join(tmpdir(), 'mcri-'));
    gate = join(base, 'gate');
    calls = join(base, 'calls');
    const wrapper = join(base, 'runc-gated');
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        // Field 19 of stat is the niceness (the command name, runc-gated, has no space).
        `echo "$(cut -d' ' -f19 /proc/$$/stat) $*" >> '${calls}'`,
        'for a in "$@"; do',
        `  if [ "$a" = delete ] && [ -e '${gate}' ]; then`,
        `    touch '${gate}.held'`,
        `    while [ -e '${gate}' ]; do sleep 0.02; done`,
        '    exit 1',
        '  fi',
        'done',
        'exec runc "$@"',
        '',
      ].join('\n'),
    );
    chmodSync(wrapper, 0o755);
    d = await startDaemon({ dirs: { base }, args: ['--cgroup-parent', cgroupParent, '--runtime', 'runc', '--runtime-path', wrapper] });
    await d.image.call('PullImage', { image: { image: bb } });
  });

  afterAll(async () => {
    rmSync(gate, { force: true });
    if (d) {
      const { items } = await d.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {}).catch(() => ({ items: [] }));
      for (const p of items) await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
      await d.stop();
      killPids(processesOf(d.base, cgroupParent).map((p) => p.pid));
      await d.cleanup();
    }
    removeCgroupTree(cgroupParent);
    await stopTestRegistry();
  });

  it('answers before the sweep, and a restart finishes it: nothing comes back, nothing is left', async () => {
    const pod = await runPod(d, 'tomb');
    const neighbour = await createCtr(d, pod, ctrConfig('stays', bb, ['sleep', '1000']));
    await d.runtime.call('StartContainer', { container_id: neighbour });
    // It exits by itself: StopContainer would already delete its runtime state (as containerd does at exit).
    const gone = await createCtr(d, pod, ctrConfig('goes', bb, ['sh', '-c', 'exit 0']));
    await d.runtime.call('StartContainer', { container_id: gone });
    await waitExited(d, gone);

    const ctrDir = join(d.workDir, 'containerizer', 'sandboxes', pod.id, 'containers', gone);
    const tomb = join(d.workDir, 'containerizer', 'tombstones', pod.id, gone);
    const cgroupDirs = cgroupsUnder(cgroupParent).map((p) => join(p, gone));
    const held = (): string[] => [
      ...(existsSync(join(d.runDir, 'runc', gone)) ? ['runc state'] : []),
      ...cgroupDirs.filter((c) => existsSync(c)).map((c) => `cgroup ${c}`),
      ...mountsUnder(join(d.workDir, 'provisioner')).filter((m) => m.includes(gone)),
      ...list(join(d.workDir, 'provisioner', 'containers', pod.id, 'containers')).filter((x) => x === gone),
      ...(existsSync(join(d.runDir, 'exits', gone)) ? ['exit file'] : []),
      ...(existsSync(join(d.runDir, 'socks', gone)) ? ['attach socket link'] : []),
      ...(existsSync(tomb) ? ['tombstone'] : []),
    ];
    expect(existsSync(join(d.runDir, 'runc', gone))).toBe(true);
    expect(cgroupDirs.some((c) => existsSync(c))).toBe(true);
    expect(mountsUnder(join(d.workDir, 'provisioner')).some((m) => m.includes(gone))).toBe(true);

    writeFileSync(gate, '');
    await d.runtime.call('RemoveContainer', { container_id: gone });
    // Answered: gone for every client at once, its dir already a tombstone.
    expect((await failure(d.runtime.call('ContainerStatus', { container_id: gone }))).code).toBe(GRPC.NOT_FOUND);
    expect(existsSync(ctrDir)).toBe(false);
    expect(existsSync(tomb)).toBe(true);
    // The sweep is inside `runc delete`: kill the daemon there.
    await until('the sweep to reach runc delete', () => (existsSync(`${gate}.held`) ? true : undefined), 10_000);
    expect(held()).toContain('runc state');
    await d.kill9();
    rmSync(gate, { force: true }); // the held delete now gives up without deleting

    d = await d.restart();
    expect((await failure(d.runtime.call('ContainerStatus', { container_id: gone }))).code).toBe(GRPC.NOT_FOUND);
    const ids = (await d.runtime.call<{ containers: Array<{ id: string }> }>('ListContainers', {})).containers.map((c) => c.id);
    expect(ids).toEqual([neighbour]);
    await until('the restart to finish the removal', () => (held().length === 0 ? true : undefined), 15_000).catch(() => undefined);
    expect(held()).toEqual([]);
    expect(list(join(d.workDir, 'containerizer', 'sandboxes', pod.id, 'containers'))).toEqual([neighbour]);
    // The neighbour was never touched.
    expect(await ctrStatus(d, neighbour)).toMatchObject({ state: 'CONTAINER_RUNNING' });

    // Without the gate the sweep runs right behind the reply, and the pod then goes whole.
    const seen = existsSync(calls) ? readFileSync(calls, 'utf8').length : 0;
    await d.runtime.call('StopContainer', { container_id: neighbour, timeout: '0' });
    // Its runtime state goes behind the stop's reply; its record (status, exit code) stays until removal.
    await until('the stop to delete the runtime state', () => (existsSync(join(d.runDir, 'runc', neighbour)) ? undefined : true), 10_000);
    expect(await ctrStatus(d, neighbour)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 137 });
    await d.runtime.call('RemoveContainer', { container_id: neighbour });
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: pod.id });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
    await waitSwept(d);
    expect(list(join(d.workDir, 'containerizer', 'tombstones'))).toEqual([]);
    expect(list(join(d.runDir, 'runc'))).toEqual([]);
    expect(list(join(d.runDir, 'exits'))).toEqual([]);
    expect(list(join(d.runDir, 'socks'))).toEqual([]);
    // The runtime deletes behind the replies (nobody waits on them) ran at the lowest priority, so
    // they never took a CPU from the requests the daemon answered meanwhile.
    const deletes = readFileSync(calls, 'utf8').slice(seen).split('\n').filter((l) => / delete /.test(l));
    expect(deletes.length).toBeGreaterThan(0);
    expect(deletes.map((l) => l.split(' ')[0])).toEqual(deletes.map(() => String(LOW_PRIORITY_NICE)));
    expect(mountsUnder(d.base)).toEqual([]);
    expect(cgroupsUnder(cgroupParent)).toEqual([]);
    // The daemon's own command line names runc (`--runtime runc`): it is not a leftover.
    const left = (): Array<{ pid: number }> => processesOf(d.base, cgroupParent).filter((p) => p.pid !== d.pid);
    await until('processes to go', () => (left().length === 0 ? true : undefined), 10_000).catch(() => undefined);
    expect(left()).toEqual([]);
  });

  it('RemovePodSandbox answers before its sweep, and a restart after a SIGKILL there finishes it', async () => {
    const pod = await runPod(d, 'tomb-pod');
    const ctr = await createCtr(d, pod, ctrConfig('last', bb, ['sh', '-c', 'exit 0']));
    await d.runtime.call('StartContainer', { container_id: ctr });
    await waitExited(d, ctr);
    const podDir = join(d.workDir, 'containerizer', 'sandboxes', pod.id);
    const podTomb = join(d.workDir, 'containerizer', 'tombstones', pod.id, '.sandbox');
    // The pod's own cgroup (no cgroup_parent: ours, under the daemon's parent) and its rootfs dir.
    const podCgroups = cgroupsUnder(cgroupParent).map((p) => join(p, pod.id));
    const podRootfs = join(d.workDir, 'provisioner', 'containers', pod.id);
    const held = (): string[] => [
      ...podCgroups.filter((c) => existsSync(c)).map((c) => `cgroup ${c}`),
      ...(existsSync(podRootfs) ? ['rootfs dir'] : []),
      ...mountsUnder(d.base),
      ...list(join(d.workDir, 'containerizer', 'tombstones')).map((t) => `tombstone ${t}`),
      ...(existsSync(join(d.runDir, 'runc', ctr)) ? ['runc state'] : []),
    ];
    expect(podCgroups.some((c) => existsSync(c))).toBe(true);
    expect(existsSync(podRootfs)).toBe(true);

    // Its container's sweep is held inside `runc delete`, so the pod's sweep (after it) cannot start.
    writeFileSync(gate, '');
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: pod.id });
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
    // Answered: gone for every client, no checkpoint names it, its dir a tombstone.
    expect((await failure(d.runtime.call('PodSandboxStatus', { pod_sandbox_id: pod.id }))).code).toBe(GRPC.NOT_FOUND);
    expect(existsSync(podDir)).toBe(false);
    expect(existsSync(join(podTomb, 'sandbox.json'))).toBe(true);
    await until('the sweep to reach runc delete', () => (existsSync(`${gate}.held`) ? true : undefined), 10_000);
    expect(held()).toContain('rootfs dir');
    await d.kill9();
    rmSync(gate, { force: true });
    rmSync(`${gate}.held`, { force: true });

    d = await d.restart();
    const { items } = await d.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {});
    expect(items.map((p) => p.id)).not.toContain(pod.id);
    await until('the restart to finish the pod removal', () => (held().length === 0 ? true : undefined), 15_000).catch(() => undefined);
    expect(held()).toEqual([]);
    expect(list(join(d.workDir, 'containerizer', 'sandboxes'))).not.toContain(pod.id);
  });

  it('collects the layers of an image removed while its container ran, once the container is removed', async () => {
    await d.image.call('PullImage', { image: { image: other } });
    const layers = join(d.workDir, 'provisioner', 'store', 'layers', 'sha256');
    const before = new Set(list(layers));
    const pod = await runPod(d, 'layers');
    const ctr = await createCtr(d, pod, ctrConfig('uses', other, ['sleep', '1000']));
    await d.runtime.call('StartContainer', { container_id: ctr });
    await d.image.call('RemoveImage', { image: { image: other } });
    // Still in use: the image is gone from the list, its layers are not.
    const { images } = await d.image.call<{ images: Array<{ repo_tags: string[] }> }>('ListImages', {});
    expect(images.flatMap((i) => i.repo_tags).some((t) => t.includes('tombstone/other'))).toBe(false);
    expect(list(layers).sort()).toEqual([...before].sort());
    await d.runtime.call('StopContainer', { container_id: ctr, timeout: '0' });
    await d.runtime.call('RemoveContainer', { container_id: ctr });
    await until('the freed layers to be collected', () => (list(layers).length < before.size ? true : undefined), 10_000).catch(() => undefined);
    const left = list(layers);
    expect(left.length).toBeLessThan(before.size);
    // busybox's layers stay: its image still names them.
    const bbCtr = await createCtr(d, pod, ctrConfig('still-works', bb, ['true']));
    await d.runtime.call('StartContainer', { container_id: bbCtr });
    expect((await waitExited(d, bbCtr)).exit_code).toBe(0);
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: pod.id });
    await waitSwept(d);
    expect(list(layers).sort()).toEqual(left.sort());
  });
});
