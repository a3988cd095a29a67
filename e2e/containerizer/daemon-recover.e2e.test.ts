import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import {
  cgroupsUnder,
  createCtr,
  ctrConfig,
  ctrStatus,
  execSync,
  killPids,
  logText,
  mountsUnder,
  netnsPins,
  processesOf,
  readCriLog,
  removeCgroupTree,
  runPod,
  testCgroupParent,
  until,
  waitSwept,
  waitExited,
} from './cri-fixture';

/**
 * Issue 4's crash test: SIGKILL the daemon while it is creating things,
 * restart it on the same dirs, and check that every pod and container comes
 * back in the right state, that what was half made is gone, and that
 * removing everything afterwards leaves nothing on the host.
 */

const processStart = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
};

async function pidOf(d: Daemon, id: string): Promise<number> {
  const r = await d.runtime.call<{ info: Record<string, string> }>('ContainerStatus', { container_id: id, verbose: true });
  return (JSON.parse(r.info.info ?? '{}') as { pid?: number }).pid ?? 0;
}

const ticks = (path: string): number[] =>
  logText(readCriLog(path))
    .filter((l) => l.startsWith('tick'))
    .map((l) => Number(l.slice(4)));

const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

describe('kill -9 of the daemon mid-churn, restart, recovery and leak check', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let bb = '';
  let trigger = '';

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'recover/busybox:1')).ref;
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    await d.image.call('PullImage', { image: { image: bb } });
    trigger = join(d.base, 'trigger');
    mkdirSync(trigger);
  });

  afterAll(async () => {
    if (d) {
      const { items } = await d.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {}).catch(() => ({ items: [] }));
      for (const p of items) await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
      await d.stop();
      // Whatever a failed run left: by pid, never by name.
      killPids(processesOf(d.base, cgroupParent).map((p) => p.pid));
      await d.cleanup();
    }
    removeCgroupTree(cgroupParent);
    await stopTestRegistry();
  });

  it('recovers every pod and container and leaks nothing', async () => {
    const ticker = ['sh', '-c', 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.05; done'];
    // Pod A: a running ticker, a container that already exited, and one that exits while the daemon is down.
    const a = await runPod(d, 'crash-a');
    const runningA = await createCtr(d, a, ctrConfig('ticker', bb, ticker));
    await d.runtime.call('StartContainer', { container_id: runningA });
    const exitedA = await createCtr(d, a, ctrConfig('done', bb, ['sh', '-c', 'exit 5']));
    await d.runtime.call('StartContainer', { container_id: exitedA });
    await waitExited(d, exitedA);
    const diesA = await createCtr(
      d,
      a,
      ctrConfig('dies', bb, ['sh', '-c', 'while [ ! -e /trigger/go ]; do sleep 0.05; done; exit 9'], { mounts: [{ container_path: '/trigger', host_path: trigger }] }),
    );
    await d.runtime.call('StartContainer', { container_id: diesA });
    // Pod B: a running ticker and a created-but-not-started container; B is where the churn happens.
    const b = await runPod(d, 'crash-b');
    const runningB = await createCtr(d, b, ctrConfig('ticker', bb, ticker));
    await d.runtime.call('StartContainer', { container_id: runningB });
    const createdB = await createCtr(d, b, ctrConfig('made', bb, ['sh', '-c', 'echo late-start']));
    // Pod C: stopped before the crash.
    const c = await runPod(d, 'crash-c');
    const stoppedC = await createCtr(d, c, ctrConfig('c', bb, ['sleep', '1000']));
    await d.runtime.call('StartContainer', { container_id: stoppedC });
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: c.id });

    const logA = (await ctrStatus(d, runningA)).log_path;
    await until('ticks', () => (ticks(logA).length > 3 ? true : undefined));
    const pids = { a: await pidOf(d, runningA), b: await pidOf(d, runningB) };
    const starts = { a: processStart(pids.a), b: processStart(pids.b) };
    expect(pids.a).toBeGreaterThan(0);
    expect(starts.a).toBeDefined();

    // Churn in pod B and a new pod, and SIGKILL as soon as a creation is under way.
    const stateDir = join(d.workDir, 'containerizer', 'sandboxes');
    const bContainers = join(stateDir, b.id, 'containers');
    const knownB = new Set(list(bContainers));
    const podsBefore = new Set(list(stateDir));
    const inflight: Array<Promise<unknown>> = [];
    for (let i = 0; i < 3; i++) inflight.push(createCtr(d, b, ctrConfig(`churn${i}`, bb, ['sleep', '1000'])).catch((e: unknown) => e));
    inflight.push(runPod(d, 'crash-new').catch((e: unknown) => e));
    // A tight poll: a create takes ~100 ms, and the kill must land inside one.
    for (const deadline = Date.now() + 10_000; !list(bContainers).some((x) => !knownB.has(x)); ) {
      if (Date.now() > deadline) throw new Error('timed out waiting for a creation under way');
      await new Promise((r) => setTimeout(r, 1));
    }
    await d.kill9();
    await Promise.all(inflight);
    // What the crash left: records in a half-made phase (or not yet written at all).
    const phaseOf = (file: string): string => {
      try {
        return (JSON.parse(readFileSync(file, 'utf8')) as { value: { phase: string } }).value.phase;
      } catch {
        return 'unwritten';
      }
    };
    const halfMade = list(bContainers)
      .filter((x) => !knownB.has(x))
      .filter((x) => ['unwritten', 'provisioning', 'preparing', 'isolating'].includes(phaseOf(join(bContainers, x, 'container.json'))));
    expect(halfMade.length).toBeGreaterThan(0);
    const newPods = list(stateDir).filter((x) => !podsBefore.has(x));
    // The rootfs mounts of the containers that existed before the churn.
    const churned = (m: string): boolean => [...halfMade, ...list(bContainers).filter((x) => !knownB.has(x)), ...newPods].some((x) => m.includes(x));
    const rootfsMounts = mountsUnder(join(d.workDir, 'provisioner')).filter((m) => !churned(m));
    expect(rootfsMounts.length).toBeGreaterThanOrEqual(5);

    // While the daemon is down: one container exits, the tickers keep ticking.
    const killedAt = BigInt(Date.now()) * 1_000_000n;
    writeFileSync(join(trigger, 'go'), '');
    const ticksAtCrash = ticks(logA).at(-1)!;
    await until('ticks while down', () => (ticks(logA).at(-1)! > ticksAtCrash + 3 ? true : undefined));

    d = await d.restart();
    expect(d.logs()).toMatch(/cleaning up a half-created container/);

    // Every pod is back in its state; a pod whose creation was cut short is either complete or gone.
    const pods = (await d.runtime.call<{ items: Array<{ id: string; state: string }> }>('ListPodSandbox', {})).items;
    const podState = Object.fromEntries(pods.map((p) => [p.id, p.state]));
    expect(podState[a.id]).toBe('SANDBOX_READY');
    expect(podState[b.id]).toBe('SANDBOX_READY');
    expect(podState[c.id]).toBe('SANDBOX_NOTREADY');
    for (const p of newPods) if (p in podState) expect(podState[p]).toBe('SANDBOX_READY');
    expect(list(stateDir).sort()).toEqual(pods.map((p) => p.id).sort());

    // Recovery kept every known container's rootfs mounted.
    expect(mountsUnder(join(d.workDir, 'provisioner')).filter((m) => !churned(m))).toEqual(rootfsMounts);

    // Running containers kept running (same process) and their logs keep growing.
    expect(await ctrStatus(d, runningA)).toMatchObject({ state: 'CONTAINER_RUNNING' });
    expect(await ctrStatus(d, runningB)).toMatchObject({ state: 'CONTAINER_RUNNING' });
    expect(await pidOf(d, runningA)).toBe(pids.a);
    expect(processStart(pids.a)).toBe(starts.a);
    expect(processStart(pids.b)).toBe(starts.b);
    const after = ticks(logA).at(-1)!;
    await until('ticks after restart', () => (ticks(logA).at(-1)! > after + 3 ? true : undefined));
    const seq = ticks(logA);
    expect(seq).toEqual(seq.map((_, i) => seq[0]! + i)); // no gap, no repeat across the crash
    expect((await execSync(d, runningB, ['sh', '-c', 'echo alive'])).stdout).toBe('alive\n');

    // Exits: the one before the crash, the one during the outage, the stopped pod's container.
    expect(await ctrStatus(d, exitedA)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 5, reason: 'Error' });
    const died = await ctrStatus(d, diesA);
    expect(died).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 9, reason: 'Error' });
    expect(BigInt(died.finished_at)).toBeGreaterThanOrEqual(killedAt - 1_000_000_000n);
    expect(await ctrStatus(d, stoppedC)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 137 });

    // The created container can still be started; half-made ones are gone without a trace.
    expect(await ctrStatus(d, createdB)).toMatchObject({ state: 'CONTAINER_CREATED' });
    await d.runtime.call('StartContainer', { container_id: createdB });
    const late = await waitExited(d, createdB);
    expect(late).toMatchObject({ exit_code: 0 });
    expect(logText(readCriLog(late.log_path))).toEqual(['late-start']);
    const ctrs = (await d.runtime.call<{ containers: Array<{ id: string; state: string }> }>('ListContainers', {})).containers;
    const ids = new Set(ctrs.map((x) => x.id));
    for (const h of halfMade) {
      expect(ids.has(h)).toBe(false);
      expect(existsSync(join(bContainers, h))).toBe(false);
      expect(existsSync(join(d.runDir, 'runc', h))).toBe(false);
    }
    // Anything of the churn that did finish is a plain CREATED container.
    for (const x of ctrs) if (!new Set([runningA, exitedA, diesA, runningB, createdB, stoppedC]).has(x.id)) expect(x.state).toBe('CONTAINER_CREATED');
    for (const p of readdirSync(join(d.runDir, 'runc'))) expect(ids.has(p) || p in podState).toBe(true);
    for (const p of list(join(d.workDir, 'provisioner', 'containers'))) expect(p in podState).toBe(true);

    // The recovered daemon still stops, and then everything goes.
    await d.runtime.call('StopContainer', { container_id: runningA, timeout: '2' });
    expect(await ctrStatus(d, runningA)).toMatchObject({ state: 'CONTAINER_EXITED' });
    for (const p of pods) {
      await d.runtime.call('StopPodSandbox', { pod_sandbox_id: p.id });
      await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    }
    expect((await d.runtime.call<{ items: unknown[] }>('ListPodSandbox', {})).items).toEqual([]);
    expect((await d.runtime.call<{ containers: unknown[] }>('ListContainers', {})).containers).toEqual([]);
    // Their dirs, rootfses and pod cgroups go behind RemovePodSandbox's reply.
    await waitSwept(d);
    await until('processes to go', () => (processesOf(d.base, cgroupParent).length === 0 ? true : undefined), 10_000).catch(() => undefined);
    expect(processesOf(d.base, cgroupParent)).toEqual([]);
    expect(mountsUnder(d.base)).toEqual([]);
    expect(cgroupsUnder(cgroupParent)).toEqual([]);
    expect(netnsPins(d.runDir)).toEqual([]);
    expect(list(join(d.runDir, 'runc'))).toEqual([]);
    expect(list(join(d.runDir, 'exits'))).toEqual([]);
    expect(list(join(d.runDir, 'socks'))).toEqual([]);
    expect(list(stateDir)).toEqual([]);
    expect(list(join(d.workDir, 'provisioner', 'containers'))).toEqual([]);
    expect(statSync(logA).size).toBeGreaterThan(0); // logs are kubelet's: kept
  });
});
