import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { idString, nested, topLevel, type ContainerId } from '../common/container-id';
import { background } from '../common/ctx';
import { CriError } from '../common/errors';
import type { ContainerConfig, SandboxConfig, SecurityContext } from './config';
import type { ContainerizerDeps } from './core';
import { FakeInfraLauncher, FakeOciRuntime } from './fake-oci-runtime';
import type { Cgroups } from './isolators/cgroups';
import { NoNetwork, type NetworkIsolator } from './isolators/network';
import type { ShmIsolator } from './isolators/shm';
import { MesosContainerizer } from './mesos-containerizer';
import type { ExitStatus, Monitor } from './monitor';
import type { OciSpec } from './oci/types';
import { securityContext } from './oci/test-fixtures';
import type { RootfsProvisioner } from './rootfs-provisioner';

const ctx = background();
const sec = (network: 'node' | 'pod' = 'node'): SecurityContext =>
  securityContext({ namespaces: { network, pid: 'container', ipc: 'pod', targetId: '' } });
const sandbox = (name: string, network: 'node' | 'pod' = 'node'): SandboxConfig => ({
  name, namespace: 'ns', uid: `u-${name}`, attempt: 0, hostname: name, logDirectory: '/logs', portMappings: [], labels: {}, annotations: {},
  cgroupParent: '/kubepods/pod1', sysctls: {}, security: sec(network), runtimeHandler: '',
});
const container = (name: string, image = 'img'): ContainerConfig => ({
  name, attempt: 0, image, command: ['sh'], args: [], workingDir: '', envs: [], mounts: [], devices: [], labels: {}, annotations: {},
  logPath: '', stdin: false, stdinOnce: false, tty: false, security: sec(), stopSignal: '',
});

class FakeMonitor implements Monitor {
  readonly exits = new Map<string, ExitStatus>();
  failNext: Error | undefined;
  constructor(private readonly runtime: FakeOciRuntime) {}
  async create(req: { id: string; bundle: string }): Promise<{ pid: number }> {
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
    return { pid: this.runtime.created(req.id, req.bundle) };
  }
  async exitStatus(req: { persistDir: string }): Promise<ExitStatus | undefined> {
    return this.exits.get(req.persistDir.split('/').at(-2)!);
  }
  async reopenLog(): Promise<void> {}
  attachSocket(b: string): string {
    return `${b}/attach`;
  }
  controlFifo(b: string): string {
    return `${b}/ctl`;
  }
}

class FakeProvisioner implements RootfsProvisioner {
  readonly live = new Set<string>();
  readonly destroyed: string[] = [];
  known: string[] = [];
  async recover(known: readonly ContainerId[]): Promise<void> {
    this.known = known.map(idString);
  }
  async provision(id: ContainerId, image: string) {
    if (image !== 'img') throw new CriError('NotFound', `image "${image}" not found`);
    this.live.add(idString(id));
    const config = { user: '', env: [], entrypoint: [], cmd: [], workingDir: '', volumes: [], stopSignal: 'SIGQUIT', labels: {}, exposedPorts: [] };
    return { rootfs: '/rootfs', image: { id: 'sha256:abc', repoTags: [], repoDigests: ['img@sha256:def'], config } };
  }
  async destroy(id: ContainerId): Promise<boolean> {
    this.destroyed.push(idString(id));
    return this.live.delete(idString(id));
  }
  async pruneImages(): Promise<void> {}
  async usage() {
    return { bytes: 1n, inodes: 1n };
  }
}

describe('MesosContainerizer (fakes)', () => {
  let base: string;
  let runtime: FakeOciRuntime;
  let infra: FakeInfraLauncher;
  let monitor: FakeMonitor;
  let prov: FakeProvisioner;
  let specFail: Error | undefined;
  let cz: MesosContainerizer;
  const make = (network: NetworkIsolator = new NoNetwork()): MesosContainerizer => {
    const deps: ContainerizerDeps = {
      roots: { workDir: join(base, 'lib'), runDir: join(base, 'run') },
      runtime,
      monitor,
      specs: {
        sandbox: () => ({}) as OciSpec,
        container: async () => {
          if (specFail) throw specFail;
          return {} as OciSpec;
        },
      },
      provisioner: prov,
      network,
      cgroups: { usage: async () => ({ timestampNs: 1n }), remove: async () => undefined, create: async () => [], killAll: async () => undefined, warmMigrations: () => undefined, has: () => false,
        podPath: (parent: string, id: string) => `${parent}/${id}`, childPath: (pod: string, id: string) => `${pod}/${id}`, checkParent: (p: string) => p, adopt: async () => undefined } as unknown as Cgroups,
      infra,
      shm: { cleanup: async () => undefined } as unknown as ShmIsolator,
      clock: { nowNanos: () => BigInt(Date.now()) * 1_000_000n, nowMs: () => Date.now() },
      exec: async () => ({ code: 0, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) }),
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
    specFail = undefined;
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

  it('refuses containers in unknown or stopped sandboxes', async () => {
    await expect(cz.launch(nested(topLevel('nope'), 'c'), { kind: 'container', config: container('c') }, ctx)).rejects.toMatchObject({ code: 'NotFound' });
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    expect(await cz.destroy(topLevel('s'), ctx)).toBe(true);
    await expect(cz.launch(nested(topLevel('s'), 'c'), { kind: 'container', config: container('c') }, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition' });
  });

  it('rolls back a container whose image, spec or monitor fails: rootfs destroyed, name released, no record', async () => {
    await cz.launch(topLevel('s'), { kind: 'sandbox', config: sandbox('s') }, ctx);
    const c = (n: string) => nested(topLevel('s'), n);
    await expect(cz.launch(c('x1'), { kind: 'container', config: container('x', 'missing') }, ctx)).rejects.toMatchObject({ code: 'NotFound' });
    specFail = new CriError('InvalidArgument', 'bad mount source');
    await expect(cz.launch(c('x2'), { kind: 'container', config: container('x') }, ctx)).rejects.toMatchObject({ code: 'InvalidArgument' });
    specFail = undefined;
    monitor.failNext = new Error('runc create failed');
    await expect(cz.launch(c('x3'), { kind: 'container', config: container('x') }, ctx)).rejects.toThrow(/failed to create container x3/);
    expect(prov.live.size).toBe(0);
    expect(cz.containers().filter((s) => s.kind === 'container')).toEqual([]);
    expect(readdirSync(join(base, 'lib', 'containerizer', 'sandboxes', 's', 'containers'))).toEqual([]);
    expect(await cz.launch(c('x4'), { kind: 'container', config: container('x') }, ctx)).toBe('launched');
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
    // The sandbox's removal waits for its containers' sweeps and drops their tombstone dir.
    expect(await cz2.remove(topLevel('s'), ctx)).toBe(true);
    expect(existsSync(join(base, 'lib', 'containerizer', 'tombstones', 's'))).toBe(false);
    cz2.close();
  });

  it('sweeps a removed container right behind the reply and lets its sandbox go after it', async () => {
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
    const sandboxGone = cz.remove(topLevel('s'), ctx);
    let done = false;
    void sandboxGone.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false); // waits for the sweep
    release();
    expect(await sandboxGone).toBe(true);
    expect(prov.live.size).toBe(0);
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
    expect(prov.destroyed).toContain('s');
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
});
