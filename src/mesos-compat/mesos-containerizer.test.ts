import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { idString, nested, topLevel, type ContainerId } from '../common/container-id';
import { background } from '../common/ctx';
import { CriError } from '../common/errors';
import { exec as forkExec } from '../common/exec';
import { container, fakeCgroups, FakeMonitor, FakeProvisioner, sandbox } from './containerizer-fakes';
import type { ContainerizerDeps } from './core';
import { FakeInfraLauncher, FakeOciRuntime } from './fake-oci-runtime';
import { NoNetwork, type NetworkIsolator } from './isolators/network';
import { ShmIsolator } from './isolators/shm';
import { MesosContainerizer } from './mesos-containerizer';
import type { OciSpec } from './oci/types';

const ctx = background();

describe('MesosContainerizer (fakes)', () => {
  let base: string;
  let runtime: FakeOciRuntime;
  let infra: FakeInfraLauncher;
  let monitor: FakeMonitor;
  let prov: FakeProvisioner;
  let specFail: Error | undefined;
  let sandboxSpecFail: Error | undefined;
  /** What the sandbox isolators did (cgroups, network, shm), in order. */
  let isoCalls: string[];
  let cz: MesosContainerizer;
  const make = (network: NetworkIsolator = new NoNetwork()): MesosContainerizer => {
    const deps: ContainerizerDeps = {
      roots: { workDir: join(base, 'lib'), runDir: join(base, 'run') },
      runtime,
      monitor,
      specs: {
        sandbox: () => {
          isoCalls.push('spec');
          if (sandboxSpecFail) throw sandboxSpecFail;
          return {} as OciSpec;
        },
        container: async () => {
          if (specFail) throw specFail;
          return {} as OciSpec;
        },
      },
      provisioner: prov,
      network,
      cgroups: fakeCgroups(isoCalls),
      infra,
      shm: new ShmIsolator(async () => ({ code: 0, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) })),
      clock: { nowNanos: () => BigInt(Date.now()) * 1_000_000n, nowMs: () => Date.now() },
      exec: async (file, args, c, o) => (file === 'rm' ? forkExec(file, args, c, o) : { code: 0, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) }), // the sweeps' rm runs
      infraPath: '/catatonit',
      execHelper: '/mesos-cri-exec',
      cgroupParent: '/mesos-cri',
      oomScoreAdjFloor: 0,
      writeFiles: async (dir) => ({ hostname: `${dir}/hostname`, hosts: `${dir}/hosts`, resolvConf: `${dir}/resolv.conf` }),
      monitorDirs: { exitDir: join(base, 'run', 'exits'), socketDir: join(base, 'run', 'socks') },
    };
    return new MesosContainerizer(deps);
  };

  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), 'cz-unit-'));
    runtime = new FakeOciRuntime();
    infra = new FakeInfraLauncher();
    monitor = new FakeMonitor(runtime);
    prov = new FakeProvisioner();
    specFail = sandboxSpecFail = undefined;
    isoCalls = [];
    cz = make();
    await cz.recover(ctx);
  });
  afterEach(() => {
    cz.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('launches a sandbox once, refuses its name twice, and reports already-launched for the same id', async () => {
    await cz.launch(topLevel('a'), { kind: 'sandbox', config: sandbox('p') }, ctx);
    expect(await cz.launch(topLevel('a'), { kind: 'sandbox', config: sandbox('p') }, ctx)).toBe('already-launched');
    await expect(cz.launch(topLevel('b'), { kind: 'sandbox', config: sandbox('p') }, ctx)).rejects.toMatchObject({ code: 'AlreadyExists' });
    expect(infra.calls).toEqual([`start ${join(base, 'lib', 'containerizer', 'sandboxes', 'a', 'bundle')}`]);
  });

  it('fails a pod network sandbox without CNI with FailedPrecondition and leaves nothing behind', async () => {
    await expect(cz.launch(topLevel('n'), { kind: 'sandbox', config: sandbox('net', 'pod') }, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(cz.containers()).toEqual([]);
    expect(readdirSync(join(base, 'lib', 'containerizer', 'sandboxes'))).toEqual([]);
    // The name is free again.
    await cz.launch(topLevel('n2'), { kind: 'sandbox', config: sandbox('net') }, ctx);
  });

  it('rolls back the sandbox when the runtime fails to run the infra process', async () => {
    infra.failNext = new Error('boom');
    await expect(cz.launch(topLevel('r'), { kind: 'sandbox', config: sandbox('r') }, ctx)).rejects.toThrow(/infra/);
    expect(cz.containers()).toEqual([]);
    expect(existsSync(join(base, 'lib', 'containerizer', 'sandboxes', 'r'))).toBe(false);
  });

  /** A CNI isolator that records into `isoCalls`; `fail` fails the next attach. */
  const recordingNetwork = (fail?: Error): NetworkIsolator => ({
    recover: async () => undefined,
    attach: async (req) => {
      isoCalls.push(`network.attach ${req.sandboxId}`);
      if (fail) throw fail;
      return { netnsPath: `/run/netns/${req.sandboxId}`, ips: ['10.1.0.2'] };
    },
    detach: async (id) => void isoCalls.push(`network.detach ${id}`),
  });
  const traceInfra = (): void => {
    const [start, kill] = [infra.start.bind(infra), infra.kill.bind(infra)];
    infra.start = async (i) => (isoCalls.push('infra.start'), start(i));
    infra.kill = async (p) => (isoCalls.push('infra.kill'), kill(p));
  };
  const shmOf = (id: string) => join(base, 'run', 'shm', id);

  it('prepares the isolators in order before the spec and the infra process, and cleans them up in reverse after killing it', async () => {
    cz.close();
    cz = make(recordingNetwork());
    await cz.recover(ctx);
    traceInfra();
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: { ...sandbox('s', 'pod'), cgroupParent: '' } }, ctx);
    expect(existsSync(shmOf('s'))).toBe(true);
    expect(cz.status(topLevel('s'))).toMatchObject({ state: 'ready', ips: ['10.1.0.2'], netnsPath: '/run/netns/s' });
    expect(isoCalls).toEqual(['network.attach s', 'cgroups.create /mesos-cri/s/s', 'spec', 'infra.start']);
    isoCalls.length = 0;
    expect(await cz.destroy(topLevel('s'), ctx)).toBe(true);
    expect(isoCalls).toEqual(['infra.kill', 'cgroups.killAll /mesos-cri/s/s', 'cgroups.remove /mesos-cri/s/s', 'network.detach s']);
    expect(existsSync(shmOf('s'))).toBe(false);
    // The pod cgroup (ours here) goes with RemovePodSandbox, after a second, idempotent cleanup of nothing.
    isoCalls.length = 0;
    expect(await cz.remove(topLevel('s'), ctx)).toBe(true);
    await cz.swept();
    expect(isoCalls).toEqual(['cgroups.remove /mesos-cri/s']);
  });

  it('rolls back every isolator in reverse when CNI ADD fails, the shm mount point made before it included', async () => {
    cz.close();
    cz = make(recordingNetwork(new CriError('Internal', 'plugin failed')));
    await cz.recover(ctx);
    await expect(cz.launch(topLevel('n'), { kind: 'sandbox', config: sandbox('n', 'pod') }, ctx)).rejects.toThrow('plugin failed');
    expect(isoCalls).toEqual(['network.attach n', 'cgroups.killAll /kubepods/pod1/n', 'cgroups.remove /kubepods/pod1/n', 'network.detach n']);
    expect(existsSync(shmOf('n'))).toBe(false);
    expect(readdirSync(join(base, 'lib', 'containerizer', 'sandboxes'))).toEqual([]);
    expect(infra.calls).toEqual([]);
  });

  it('removes the infra cgroup made before the spec when the spec fails', async () => {
    sandboxSpecFail = new CriError('InvalidArgument', 'bad sysctl');
    await expect(cz.launch(topLevel('r'), { kind: 'sandbox', config: sandbox('r') }, ctx)).rejects.toThrow('bad sysctl');
    expect(isoCalls).toEqual(['cgroups.create /kubepods/pod1/r', 'spec', 'cgroups.killAll /kubepods/pod1/r', 'cgroups.remove /kubepods/pod1/r']);
    expect(existsSync(shmOf('r'))).toBe(false);
    expect(existsSync(join(base, 'lib', 'containerizer', 'sandboxes', 'r'))).toBe(false);
    expect(infra.calls).toEqual([]);
  });

  it('sweeps a sandbox dir without a checkpoint through the isolators by its id, leaving its network to the network recovery', async () => {
    cz.close();
    mkdirSync(join(base, 'lib', 'containerizer', 'sandboxes', 'orph'), { recursive: true });
    mkdirSync(shmOf('orph'), { recursive: true });
    cz = make(recordingNetwork());
    await cz.recover(ctx);
    expect(isoCalls).toEqual(['cgroups.killAll /mesos-cri/orph/orph', 'cgroups.remove /mesos-cri/orph/orph', 'cgroups.remove /mesos-cri/orph']);
    expect(existsSync(shmOf('orph'))).toBe(false);
    expect(existsSync(join(base, 'lib', 'containerizer', 'sandboxes', 'orph'))).toBe(false);
  });

  it('refuses containers in unknown or stopped sandboxes', async () => {
    await expect(cz.launch(nested(topLevel('nope'), 'c'), { kind: 'container', config: container('c') }, ctx)).rejects.toMatchObject({ code: 'NotFound' });
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    expect(await cz.destroy(topLevel('s'), ctx)).toBe(true);
    await expect(cz.launch(nested(topLevel('s'), 'c'), { kind: 'container', config: container('c') }, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition' });
  });

  it('rolls back a container whose image or spec fails: rootfs destroyed, name released, no record', async () => {
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    const c = (n: string) => nested(topLevel('s'), n);
    await expect(cz.launch(c('x1'), { kind: 'container', config: container('x', 'missing') }, ctx)).rejects.toMatchObject({ code: 'NotFound' });
    specFail = new CriError('InvalidArgument', 'bad mount source');
    await expect(cz.launch(c('x2'), { kind: 'container', config: container('x') }, ctx)).rejects.toMatchObject({ code: 'InvalidArgument' });
    specFail = undefined;
    expect(prov.live.size).toBe(0);
    expect(cz.containers().filter((s) => s.kind === 'container')).toEqual([]);
    expect(readdirSync(join(base, 'lib', 'containerizer', 'sandboxes', 's', 'containers'))).toEqual([]);
    expect(await cz.launch(c('x4'), { kind: 'container', config: container('x') }, ctx)).toBe('launched');
  });

  it('makes a container in the runtime at StartContainer; a refusal there leaves it exited (128, StartError) as containerd does', async () => {
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    const id = nested(topLevel('s'), 'x3');
    await cz.launch(id, { kind: 'container', config: container('x3') }, ctx);
    // Created: no monitor, no runtime container, no process yet; a stop leaves it created.
    expect(await runtime.state('x3')).toBeUndefined();
    await cz.kill(id, { timeoutSeconds: 0 }, ctx);
    expect(cz.status(id)).toMatchObject({ state: 'created' });
    monitor.failNext = new Error('runc create failed: exec: "nope": executable file not found');
    await expect(cz.start(id, ctx)).rejects.toMatchObject({ code: 'Unknown', message: expect.stringMatching(/failed to start container x3: .*executable file not found/) });
    expect(cz.status(id)).toMatchObject({ state: 'exited', exitCode: 128, reason: 'StartError', message: expect.stringMatching(/executable file not found/) });
    expect(await runtime.state('x3')).toBeUndefined();
    await expect(cz.start(id, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await cz.remove(id, ctx)).toBe(true);
  });

  it('runs the create/start/exit/remove cycle with CRI timestamps, reasons and events', async () => {
    const events: string[] = [];
    cz.subscribe((e) => events.push(`${e.type} ${e.containerId}`));
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    const id = nested(topLevel('s'), 'c1');
    await cz.launch(id, { kind: 'container', config: container('c1') }, ctx);
    await cz.start(id, ctx);
    await expect(cz.start(id, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(cz.status(id)).toMatchObject({ state: 'running', image: { id: 'sha256:abc', repoDigest: 'img@sha256:def' } });
    monitor.exits.set('c1', { code: 137, at: 5n, oomKilled: true });
    const st = await cz.wait(id, ctx);
    expect(st).toMatchObject({ state: 'exited', exitCode: 137, reason: 'OOMKilled' });
    expect(st.finishedAt).toBe(st.startedAt); // clamped: never before the start
    const none = { cpuPeriod: 0n, cpuQuota: 0n, cpuShares: 0n, memoryLimitBytes: 0n, memorySwapLimitBytes: 0n, oomScoreAdj: 0, cpusetCpus: '', cpusetMems: '', hugepageLimits: [], unified: {} };
    await expect(cz.update(id, none, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await cz.remove(id, ctx)).toBe(true);
    expect(await cz.remove(id, ctx)).toBe(false);
    expect(events).toEqual(['created s', 'started s', 'created c1', 'started c1', 'stopped c1', 'deleted c1']);
  });

  it('removes a container behind the reply through a tombstone, which the next start finishes after a crash', async () => {
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    const id = nested(topLevel('s'), 'c1');
    await cz.launch(id, { kind: 'container', config: container('c1') }, ctx);
    await cz.start(id, ctx);
    monitor.exits.set('c1', { code: 0, at: BigInt(Date.now()) * 1_000_000n, oomKilled: false });
    await cz.wait(id, ctx);
    const exitFile = join(base, 'run', 'exits', 'c1');
    mkdirSync(join(base, 'run', 'exits'), { recursive: true });
    writeFileSync(exitFile, '0');
    // The sweep's runtime delete hangs: the daemon "dies" before it finishes.
    const realDelete = runtime.delete.bind(runtime);
    let hung = 0;
    runtime.delete = (cid: string) => (cid === 'c1' && hung++ === 0 ? new Promise<boolean>(() => undefined) : realDelete(cid));
    expect(await cz.remove(id, ctx)).toBe(true);
    const tomb = join(base, 'lib', 'containerizer', 'tombstones', 's', 'c1');
    expect(existsSync(tomb)).toBe(true);
    expect(existsSync(join(base, 'lib', 'containerizer', 'sandboxes', 's', 'containers', 'c1'))).toBe(false);
    expect(() => cz.status(id)).toThrow(/not found/);
    await vi.waitFor(() => expect(hung).toBe(1));
    cz.close();

    const cz2 = make();
    await cz2.recover(ctx);
    // Not brought back, and everything it held is gone once the sweep has run.
    expect(() => cz2.status(id)).toThrow(/not found/);
    expect(cz2.containers({ kind: 'container' })).toEqual([]);
    await vi.waitFor(() => expect(existsSync(tomb)).toBe(false));
    expect(runtime.calls).toContain('delete c1');
    expect(await runtime.state('c1')).toBeUndefined();
    expect(prov.live.has('s.c1')).toBe(false);
    expect(existsSync(exitFile)).toBe(false);
    // The sandbox's sweep follows its containers' and drops their tombstone dir.
    expect(await cz2.remove(topLevel('s'), ctx)).toBe(true);
    await cz2.swept();
    expect(existsSync(join(base, 'lib', 'containerizer', 'tombstones', 's'))).toBe(false);
    cz2.close();
  });

  it('sweeps a removed container right behind the reply, and its sandbox after it, behind its own reply', async () => {
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    const id = nested(topLevel('s'), 'c1');
    await cz.launch(id, { kind: 'container', config: container('c1') }, ctx);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const realDestroy = prov.destroy.bind(prov);
    prov.destroy = async (pid: ContainerId) => {
      if (idString(pid) === 's.c1') await gate;
      return realDestroy(pid);
    };
    monitor.exits.set('c1', { code: 0, at: BigInt(Date.now()) * 1_000_000n, oomKilled: false });
    expect(await cz.remove(id, ctx)).toBe(true); // answers while the rootfs is still there
    expect(prov.live.has('s.c1')).toBe(true);
    // The sandbox's removal answers at once: its dir is a tombstone, no record names it.
    expect(await cz.remove(topLevel('s'), ctx)).toBe(true);
    expect(() => cz.status(topLevel('s'))).toThrow(/not found/);
    expect(existsSync(join(base, 'lib', 'containerizer', 'sandboxes', 's'))).toBe(false);
    expect(existsSync(join(base, 'lib', 'containerizer', 'tombstones', 's', '.sandbox', 'sandbox.json'))).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    // Its own rootfs dir waits for its container's sweep.
    expect(prov.destroyed).not.toContain('s');
    release();
    await cz.swept();
    expect(prov.live.size).toBe(0);
    expect(prov.destroyed.indexOf('s.c1')).toBeLessThan(prov.destroyed.indexOf('s'));
    expect(runtime.calls).toContain('delete c1');
    expect(readdirSync(join(base, 'lib', 'containerizer', 'tombstones'))).toEqual([]);
  });

  it('stops with the image stop signal and escalates to SIGKILL', async () => {
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    const id = nested(topLevel('s'), 'c1');
    await cz.launch(id, { kind: 'container', config: container('c1') }, ctx);
    await cz.start(id, ctx);
    setTimeout(() => monitor.exits.set('c1', { code: 137, at: BigInt(Date.now()) * 1_000_000n, oomKilled: false }), 200);
    await cz.kill(id, { timeoutSeconds: 0.1 }, ctx);
    expect(runtime.calls.filter((c) => c.startsWith('kill'))).toEqual(['kill c1 SIGQUIT', 'kill c1 SIGKILL']);
    expect(cz.status(id)).toMatchObject({ state: 'exited', exitCode: 137, reason: 'Error' });
  });

  it('recovers records from checkpoints and drops half-made containers', async () => {
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    await cz.launch(nested(topLevel('s'), 'c1'), { kind: 'container', config: container('c1') }, ctx);
    await cz.start(nested(topLevel('s'), 'c1'), ctx);
    cz.close();
    const cz2 = make();
    await cz2.recover(ctx);
    expect(cz2.status(nested(topLevel('s'), 'c1'))).toMatchObject({ state: 'running' });
    expect(cz2.status(topLevel('s'))).toMatchObject({ state: 'ready' });
    // The provisioner keeps nested rootfses only under known parents: sandboxes are listed too.
    expect(prov.known.sort()).toEqual(['s', 's.c1']);
    await expect(cz2.launch(topLevel('t'), { kind: 'sandbox', config: sandbox('s') }, ctx)).rejects.toMatchObject({ code: 'AlreadyExists' });
    // Removing the sandbox removes the provisioner's per-sandbox state too.
    monitor.exits.set('c1', { code: 0, at: BigInt(Date.now()) * 1_000_000n, oomKilled: false });
    expect(await cz2.remove(topLevel('s'), ctx)).toBe(true);
    await cz2.swept();
    expect(prov.destroyed).toContain('s');
    cz2.close();
  });

  it('finishes a removed sandbox after a crash between its reply and its sweep: rootfs dir, owned pod cgroup, tombstone', async () => {
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: { ...sandbox('s'), cgroupParent: '' } }, ctx);
    await cz.launch(nested(topLevel('s'), 'c1'), { kind: 'container', config: container('c1') }, ctx);
    monitor.exits.set('c1', { code: 0, at: BigInt(Date.now()) * 1_000_000n, oomKilled: false });
    // The sweep of its container hangs, so the sandbox's never starts: as if the daemon died there.
    prov.destroy = () => new Promise<boolean>(() => undefined);
    expect(await cz.remove(topLevel('s'), ctx)).toBe(true);
    cz.close();
    prov = new FakeProvisioner();
    isoCalls.length = 0;
    const cz2 = make();
    await cz2.recover(ctx);
    expect(() => cz2.status(topLevel('s'))).toThrow(/not found/);
    await cz2.swept();
    expect(prov.destroyed).toEqual(expect.arrayContaining(['s.c1', 's']));
    expect(isoCalls).toContain(`cgroups.remove ${join('/mesos-cri', 's')}`);
    expect(existsSync(join(base, 'lib', 'containerizer', 'tombstones', 's'))).toBe(false);
    cz2.close();
  });

  it('fails safe on checkpoints it cannot read: a newer version is left untouched, an unparseable one is moved aside', async () => {
    const at = (...p: string[]): string => join(base, 'lib', 'containerizer', 'sandboxes', ...p);
    await cz.launch(topLevel('newer'), { kind: 'sandbox', config: sandbox('newer') }, ctx);
    await cz.launch(nested(topLevel('newer'), 'n1'), { kind: 'container', config: container('n1') }, ctx);
    await cz.launch(topLevel('torn'), { kind: 'sandbox', config: sandbox('torn') }, ctx);
    await cz.launch(nested(topLevel('torn'), 't1'), { kind: 'container', config: container('t1') }, ctx);
    await cz.launch(topLevel('mixed'), { kind: 'sandbox', config: sandbox('mixed') }, ctx);
    await cz.launch(nested(topLevel('mixed'), 'ok'), { kind: 'container', config: container('ok') }, ctx);
    await cz.launch(nested(topLevel('mixed'), 'later'), { kind: 'container', config: container('later') }, ctx);
    for (const [pod, id] of [['newer', 'n1'], ['torn', 't1'], ['mixed', 'later']] as const) await cz.start(nested(topLevel(pod), id), ctx); // now in the runtime too
    cz.close();
    const newer = JSON.stringify({ version: 2, value: { id: 'from-the-future' } });
    writeFileSync(at('newer', 'sandbox.json'), newer);
    writeFileSync(at('torn', 'sandbox.json'), '{"version":1,"value":{"id":"to');
    writeFileSync(at('mixed', 'containers', 'later', 'container.json'), newer);

    const cz2 = make();
    await cz2.recover(ctx);
    // Newer: nothing of it touched, not even its container's runtime state or rootfs.
    expect(readFileSync(at('newer', 'sandbox.json'), 'utf8')).toBe(newer);
    expect(existsSync(at('newer', 'containers', 'n1', 'container.json'))).toBe(true);
    expect(await runtime.state('n1')).toBeDefined();
    expect(() => cz2.status(topLevel('newer'))).toThrow(/not found/);
    expect(prov.known).toEqual(expect.arrayContaining(['newer', 'newer.n1', 'mixed.later']));
    // Unparseable: moved aside (kept), and what it recorded swept.
    expect(existsSync(at('torn'))).toBe(false);
    const aside = readdirSync(join(base, 'lib', 'containerizer', 'quarantine'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(base, 'lib', 'containerizer', 'quarantine', aside[0]!), 'utf8')).toBe('{"version":1,"value":{"id":"to');
    expect(await runtime.state('t1')).toBeUndefined();
    expect(prov.known).not.toContain('torn.t1');
    // A sandbox with one unreadable container: the rest recovers.
    expect(cz2.status(nested(topLevel('mixed'), 'ok'))).toMatchObject({ state: 'created' });
    expect(readFileSync(at('mixed', 'containers', 'later', 'container.json'), 'utf8')).toBe(newer);
    expect(await runtime.state('later')).toBeDefined();
    cz2.close();
  });

  it('resolves IO targets (IoTargets) with its own monitor and state, and refuses what is not there or not running', async () => {
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    const id = nested(topLevel('s'), 'c1');
    await cz.launch(id, { kind: 'container', config: { ...container('c1'), tty: true } }, ctx);
    await expect(cz.attachTarget('c1')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await expect(cz.execTarget('c1')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await cz.start(id, ctx);
    // The containerizer's own monitor names the endpoints, for the bundle the container runs from.
    const bundle = (await runtime.state('c1'))!.bundle;
    expect(await cz.attachTarget('c1')).toEqual({ containerId: 'c1', attachSocket: `${bundle}/attach`, ctlFifo: `${bundle}/ctl`, tty: true, stdinOnce: false });
    // A sandbox is not a container, nor the reverse.
    await expect(cz.attachTarget('s')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(cz.execTarget('nope')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(cz.portForwardTarget('c1')).rejects.toMatchObject({ code: 'NotFound' });
    // Host network: no namespace to enter.
    expect(await cz.portForwardTarget('s')).toEqual({ sandboxId: 's', netnsPath: undefined });
  });
});
