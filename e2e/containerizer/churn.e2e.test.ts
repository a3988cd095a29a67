import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, netFixture, PLUGIN_DIR, type NetFixture } from '../cni/helpers';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { MAIN_JS } from '../support/build';
import { startDaemon, type Daemon } from '../support/daemon';
import { cgroupsUnder, ctrConfig, killPids, mountsUnder, netnsPins, podConfig, processesOf, removeCgroupTree, testCgroupParent, until, waitSwept, type Wire } from './cri-fixture';

/**
 * Issue 15's churn test, bounded for CI: several parallel clients run,
 * create, start, exec, stop and remove pods and containers on a CNI
 * network while the daemon is SIGKILLed at random points and restarted. A
 * second instance (its own dirs and cgroup parent) shares the network and
 * host-local store all along. At the end, every pod and container a
 * client saw made and not removed is there in the state it saw, running
 * ones with their process alive; after removing everything nothing is
 * left: mounts, netns pins, IP leases, cgroups, processes, files; and the
 * second instance's pod, lease and container were never touched.
 */

const CLIENTS = 5;
const ROUNDS = 10; // pods per client: 50 in all
const KILLS = 20;

type CtrState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED';

interface Ledger {
  /** Pods and containers whose last call succeeded: their state is certain. */
  readonly pods: Map<string, 'SANDBOX_READY'>;
  readonly ctrs: Map<string, { pod: string; state: CtrState }>;
  /** Ids whose last call failed mid-kill: either outcome is right. */
  readonly unsure: Set<string>;
}

const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);
const alive = (pid: number): boolean => {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe.skipIf(!canRun())('churn with parallel clients and SIGKILLs of the daemon', () => {
  const cgroupParent = testCgroupParent();
  const otherParent = testCgroupParent();
  let fx: NetFixture;
  let d: Daemon;
  let other: Daemon;
  let bb = '';
  let up: Promise<void> = Promise.resolve();

  const leases = (): string[] => list(join(fx.dataDir, fx.network)).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n));

  beforeAll(async () => {
    fx = await netFixture({ bridge: 'mcri-ch0', subnet: '10.253.0.0/24', network: 'mcri-e2e-churn' });
    fx.writeConf('10-churn.conflist', fx.conflist());
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'churn/busybox:1')).ref;
    const net = ['--cni-conf-dir', fx.confDir, '--cni-bin-dir', PLUGIN_DIR];
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent, ...net] });
    other = await startDaemon({ args: ['--cgroup-parent', otherParent, ...net] });
    for (const x of [d, other]) await x.image.call('PullImage', { image: { image: bb } });
  }, 120_000);

  afterAll(async () => {
    for (const x of [d, other]) {
      if (!x) continue;
      const { items } = await x.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {}).catch(() => ({ items: [] }));
      for (const p of items) await x.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
      await x.stop().catch(() => undefined);
      killPids(processesOf(x.base, cgroupParent).map((p) => p.pid));
      await x.cleanup();
    }
    removeCgroupTree(cgroupParent);
    removeCgroupTree(otherParent);
    await fx?.cleanup();
    await stopTestRegistry();
  }, 60_000);

  /** A call on whichever daemon is up; rejects if it is killed meanwhile. */
  async function call<R = Wire>(rpc: string, req: Wire): Promise<R> {
    await up;
    return d.runtime.call<R>(rpc, req, 30_000);
  }

  async function client(n: number, ledger: Ledger): Promise<void> {
    for (let r = 0; r < ROUNDS; r++) {
      // A start cut by a kill is tried again under a new name, as kubelet retries a pod (at most
      // three times): otherwise a client whose starts all meet kills ends its rounds with nothing made.
      let pod: string | undefined;
      let config: Wire = {};
      for (let attempt = 0; attempt < 3 && pod === undefined; attempt++) {
        const name = `churn-${n}-${r}-${attempt}`;
        config = podConfig(name, join(d.base, 'pods', name), { hostNetwork: false });
        try {
          pod = (await call<{ pod_sandbox_id: string }>('RunPodSandbox', { config })).pod_sandbox_id;
        } catch {
          // may or may not exist: the final listing decides, removal cleans it
        }
      }
      if (pod === undefined) continue;
      ledger.pods.set(pod, 'SANDBOX_READY');
      const step = async (id: string, fn: () => Promise<unknown>, then: CtrState | 'removed'): Promise<boolean> => {
        try {
          await fn();
        } catch {
          ledger.ctrs.delete(id);
          ledger.unsure.add(id);
          return false;
        }
        if (then === 'removed') ledger.ctrs.delete(id);
        else ledger.ctrs.set(id, { pod, state: then });
        return true;
      };
      for (const [i, plan] of (['keep-running', 'stop', 'remove', 'created'] as const).entries()) {
        let id: string;
        try {
          id = (
            await call<{ container_id: string }>('CreateContainer', {
              pod_sandbox_id: pod,
              config: ctrConfig(`c${i}`, bb, ['sh', '-c', 'echo up; exec sleep 1000']),
              sandbox_config: config,
            })
          ).container_id;
        } catch {
          continue;
        }
        ledger.ctrs.set(id, { pod, state: 'CONTAINER_CREATED' });
        if (plan === 'created') continue;
        if (!(await step(id, () => call('StartContainer', { container_id: id }), 'CONTAINER_RUNNING'))) continue;
        try {
          const out = await call<{ stdout: Buffer }>('ExecSync', { container_id: id, cmd: ['echo', `hi-${id.slice(0, 6)}`], timeout: '10' });
          expect(out.stdout.toString()).toBe(`hi-${id.slice(0, 6)}\n`);
        } catch (err) {
          if ((err as { name?: string }).name === 'AssertionError') throw err;
        }
        if (plan === 'keep-running') continue;
        if (!(await step(id, () => call('StopContainer', { container_id: id, timeout: '1' }), 'CONTAINER_EXITED'))) continue;
        if (plan === 'remove') await step(id, () => call('RemoveContainer', { container_id: id }), 'removed');
      }
      if (r % 2 === 1) {
        try {
          await call('StopPodSandbox', { pod_sandbox_id: pod });
          await call('RemovePodSandbox', { pod_sandbox_id: pod });
          ledger.pods.delete(pod);
          for (const [id, c] of ledger.ctrs) if (c.pod === pod) ledger.ctrs.delete(id);
        } catch {
          ledger.pods.delete(pod);
          ledger.unsure.add(pod);
          for (const [id, c] of ledger.ctrs) if (c.pod === pod) (ledger.ctrs.delete(id), ledger.unsure.add(id));
        }
      }
    }
  }

  it('loses nothing a client saw, leaks nothing after removal, and never touches the other instance', async () => {
    // The other instance's pod: a running container and a lease in the shared store.
    const otherCfg = podConfig('other', join(other.base, 'pods', 'other'), { hostNetwork: false });
    const otherPod = (await other.runtime.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config: otherCfg })).pod_sandbox_id;
    const otherCtr = (
      await other.runtime.call<{ container_id: string }>('CreateContainer', {
        pod_sandbox_id: otherPod,
        config: ctrConfig('o', bb, ['sleep', '1000']),
        sandbox_config: otherCfg,
      })
    ).container_id;
    await other.runtime.call('StartContainer', { container_id: otherCtr });
    const otherIp = (await other.runtime.call<{ status: { network: { ip: string } } }>('PodSandboxStatus', { pod_sandbox_id: otherPod })).status.network.ip;
    const otherPid = JSON.parse(
      (await other.runtime.call<{ info: Record<string, string> }>('ContainerStatus', { container_id: otherCtr, verbose: true })).info.info ?? '{}',
    ).pid as number;
    expect(leases()).toEqual([otherIp]);

    const ledger: Ledger = { pods: new Map(), ctrs: new Map(), unsure: new Set() };
    let finished = false;
    const clients = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n, ledger))).finally(() => (finished = true));
    let kills = 0;
    for (; kills < KILLS && !finished; kills++) {
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
      let release!: () => void;
      up = new Promise<void>((r) => (release = r));
      await d.kill9();
      d = await d.restart();
      release();
    }
    await clients;
    expect(kills).toBeGreaterThanOrEqual(3);

    // Everything a client saw made and not removed is there, in that state.
    const pods = new Map((await d.runtime.call<{ items: Array<{ id: string; state: string }> }>('ListPodSandbox', {})).items.map((p) => [p.id, p.state]));
    for (const [id, state] of ledger.pods) expect({ id, state: pods.get(id) }).toEqual({ id, state });
    const ctrs = new Map(
      (await d.runtime.call<{ containers: Array<{ id: string; state: string; pod_sandbox_id: string }> }>('ListContainers', {})).containers.map((c) => [c.id, c]),
    );
    for (const [id, c] of ledger.ctrs) {
      expect({ id, state: ctrs.get(id)?.state }).toEqual({ id, state: c.state });
      if (c.state === 'CONTAINER_RUNNING') {
        const info = (await d.runtime.call<{ info: Record<string, string> }>('ContainerStatus', { container_id: id, verbose: true })).info.info ?? '{}';
        expect({ id, alive: alive((JSON.parse(info) as { pid: number }).pid) }).toEqual({ id, alive: true });
      }
    }
    for (const c of ctrs.values()) expect(pods.has(c.pod_sandbox_id)).toBe(true);
    expect(ledger.pods.size + ledger.ctrs.size).toBeGreaterThan(0);

    // Remove everything: nothing of this instance is left.
    for (const id of pods.keys()) {
      await d.runtime.call('StopPodSandbox', { pod_sandbox_id: id });
      await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: id });
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
    expect(list(join(d.runDir, 'shm'))).toEqual([]);
    expect(list(join(d.workDir, 'containerizer', 'sandboxes'))).toEqual([]);
    expect(list(join(d.workDir, 'provisioner', 'containers'))).toEqual([]);
    expect(list(join(d.workDir, 'cni', 'sandboxes'))).toEqual([]);
    // `check --leaks` agrees, and does see a leftover when there is one.
    const check = (): { code: number | null; out: string } => {
      const r = spawnSync(process.execPath, [MAIN_JS, 'check', '--leaks', '--config', join(d.base, 'none.yaml'), '--work-dir', d.workDir, '--run-dir', d.runDir, '--cgroup-parent', cgroupParent], { encoding: 'utf8' });
      return { code: r.status, out: r.stdout };
    };
    expect(check()).toEqual({ code: 0, out: 'no leftovers\n' });
    const stray = join(d.runDir, 'exits', 'e'.repeat(64));
    writeFileSync(stray, '0');
    const found = check();
    expect(found.code).toBe(1);
    expect(found.out).toContain(`monitor-file\t${stray}`);
    rmSync(stray);
    // Only the other instance's lease is left; its pod and process never noticed.
    expect(leases()).toEqual([otherIp]);
    expect((await other.runtime.call<{ status: { state: string } }>('PodSandboxStatus', { pod_sandbox_id: otherPod })).status.state).toBe('SANDBOX_READY');
    expect((await other.runtime.call<{ status: { state: string } }>('ContainerStatus', { container_id: otherCtr })).status.state).toBe('CONTAINER_RUNNING');
    expect(alive(otherPid)).toBe(true);
    expect(cgroupsUnder(otherParent).length).toBeGreaterThan(0);
    process.stdout.write(`churn: ${kills} kills, ${ledger.pods.size} pods and ${ledger.ctrs.size} containers certain, ${ledger.unsure.size} unsure\n`);
  }, 240_000);
});
