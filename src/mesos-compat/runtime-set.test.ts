import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nested, topLevel, type ContainerId } from '../common/container-id';
import { background } from '../common/ctx';
import type { Resources, SandboxConfig } from './launch-config';
import type { ContainerizerDeps } from './core';
import { FakeInfraLauncher, FakeOciRuntime } from './fake-oci-runtime';
import { container, fakeCgroups, sandbox as baseSandbox } from './containerizer-fakes';
import { NoNetwork } from './isolators/network';
import type { ShmIsolator } from './isolators/shm';
import { MesosContainerizer } from './mesos-containerizer';
import type { ExitStatus, Monitor } from './monitor';
import type { OciSpec } from './oci/types';
import type { RootfsProvisioner } from './rootfs-provisioner';
import { RuntimeSet } from './runtime-set';
import { sandboxCheckpoint } from './paths';

const ctx = background();
const sandbox = (name: string, handler: string, runtime?: string): SandboxConfig => ({
  ...baseSandbox(name),
  logDirectory: '',
  runtimeHandler: handler,
  ...(runtime !== undefined ? { runtime } : {}),
});
const resources: Resources = { cpuPeriod: 0n, cpuQuota: 0n, cpuShares: 2n, memoryLimitBytes: 0n, memorySwapLimitBytes: 0n, oomScoreAdj: 0, cpusetCpus: '', cpusetMems: '', hugepageLimits: [], unified: {} };

/** Two fake runtimes told apart by their roots (a `RuntimeSet` keys distinct runtimes by path and root). */
const fake = (root: string): FakeOciRuntime => Object.assign(new FakeOciRuntime(), { root });

/** The monitor runs `runtime create` with the runtime `RuntimeSet.for` names, as `ConmonMonitor` does. */
class RoutingMonitor implements Monitor {
  readonly exits = new Map<string, ExitStatus>();
  constructor(private readonly set: RuntimeSet) {}
  async create(req: { id: string; bundle: string }): Promise<{ pid: number }> {
    return { pid: (this.set.for(req.id) as FakeOciRuntime).created(req.id, req.bundle) };
  }
  /** The exit the monitor would record once the runtime's process is gone. */
  async exitStatus(req: { persistDir: string }): Promise<ExitStatus | undefined> {
    const id = req.persistDir.split('/').at(-2)!;
    const st = await this.set.state(id, ctx);
    return st?.status === 'stopped' ? { code: 137, at: BigInt(Date.now()) * 1_000_000n, oomKilled: false } : undefined;
  }
  async reopenLog(): Promise<void> {}
  attachSocket(b: string): string {
    return `${b}/attach`;
  }
  controlFifo(b: string): string {
    return `${b}/ctl`;
  }
}

const provisioner: RootfsProvisioner = {
  recover: async () => undefined,
  provision: async () => ({
    rootfs: '/rootfs',
    image: { id: 'sha256:abc', repoTags: [], repoDigests: [], config: { user: '', env: [], entrypoint: [], cmd: [], workingDir: '', volumes: [], stopSignal: '', labels: {}, exposedPorts: [] } },
  }),
  destroy: async () => true,
  pruneImages: async () => undefined,
  usage: async () => ({ bytes: 1n, inodes: 1n }),
} as unknown as RootfsProvisioner;

describe('RuntimeSet: named runtime handlers', () => {
  let base: string;
  let runc: FakeOciRuntime;
  let wrapped: FakeOciRuntime;
  let infra: FakeInfraLauncher;
  let cz: MesosContainerizer;

  /** A containerizer over both handlers (`runc` the default), as `createContainerizer` wires it. */
  const make = (): MesosContainerizer => {
    const set = new RuntimeSet(new Map([['runc', runc], ['wrapped', wrapped]]), 'runc');
    const deps: ContainerizerDeps = {
      roots: { workDir: join(base, 'lib'), runDir: join(base, 'run') },
      runtime: set,
      monitor: new RoutingMonitor(set),
      specs: { sandbox: () => ({}) as OciSpec, container: async () => ({}) as OciSpec },
      provisioner,
      network: new NoNetwork(),
      cgroups: fakeCgroups(),
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
    const made = new MesosContainerizer(deps);
    set.handlerOf = (id) => made.runtimeHandlerOf(id);
    return made;
  };
  const ids = (rt: FakeOciRuntime): string[] => rt.calls.map((c) => c.split(' ')[1] ?? '').filter(Boolean);
  const run = async (c: ContainerId): Promise<void> => {
    await cz.launch(c, { kind: 'container', config: container(c.value) }, ctx);
    await cz.start(c, ctx);
  };

  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), 'rtset-unit-'));
    runc = fake('/run/a');
    wrapped = fake('/run/b');
    infra = new FakeInfraLauncher();
    cz = make();
    await cz.recover(ctx);
  });
  afterEach(() => {
    cz.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('sends every runtime call of a pod\'s containers to its handler, the default for an empty one', async () => {
    await cz.launch(topLevel('pw'), { kind: 'sandbox', config: sandbox('pw', 'wrapped', 'wrapped') }, ctx);
    await cz.launch(topLevel('pd'), { kind: 'sandbox', config: sandbox('pd', '', 'runc') }, ctx);
    const cw = nested(topLevel('pw'), 'cw');
    const cd = nested(topLevel('pd'), 'cd');
    await run(cw);
    await run(cd);
    await cz.update(cw, resources, ctx);
    await cz.update(cd, resources, ctx);
    expect(cz.runtimeHandlerOf('cw')).toBe('wrapped');
    expect(cz.runtimeHandlerOf('cd')).toBe('runc');
    await cz.kill(cw, { timeoutSeconds: 0 }, ctx);
    await cz.remove(cw, ctx);
    await cz.remove(cd, ctx);
    expect(new Set(ids(wrapped))).toEqual(new Set(['cw']));
    expect(new Set(ids(runc))).toEqual(new Set(['cd']));
    expect(wrapped.calls).toEqual(expect.arrayContaining(['start cw', 'update cw', 'kill cw SIGKILL']));
    expect(runc.calls).toEqual(expect.arrayContaining(['start cd', 'update cd']));
  });

  it('keeps each pod on its handler across a restart; a record without a resolved handler uses the default', async () => {
    await cz.launch(topLevel('pw'), { kind: 'sandbox', config: sandbox('pw', 'wrapped', 'wrapped') }, ctx);
    await cz.launch(topLevel('old'), { kind: 'sandbox', config: sandbox('old', '') }, ctx);
    await run(nested(topLevel('pw'), 'cw'));
    await run(nested(topLevel('old'), 'co'));
    // A record from before named handlers has no `runtime` field.
    const file = sandboxCheckpoint({ workDir: join(base, 'lib'), runDir: join(base, 'run') }, 'old');
    expect(readFileSync(file, 'utf8')).not.toContain('"runtime"');
    // An orphan only the second runtime knows.
    wrapped.created('orphan');
    cz.close();
    runc.calls.length = 0;
    wrapped.calls.length = 0;
    cz = make();
    await cz.recover(ctx);
    expect(wrapped.calls).toContain('delete orphan');
    // No record names it: the runtime that listed it deletes it.
    expect(await wrapped.state('orphan')).toBeUndefined();
    expect(runc.calls).not.toContain('delete orphan');
    expect(cz.status(nested(topLevel('pw'), 'cw'))).toMatchObject({ state: 'running' });
    await cz.update(nested(topLevel('pw'), 'cw'), resources, ctx);
    await cz.update(nested(topLevel('old'), 'co'), resources, ctx);
    await cz.kill(nested(topLevel('pw'), 'cw'), { timeoutSeconds: 0 }, ctx);
    expect(wrapped.calls).toEqual(expect.arrayContaining(['update cw', 'kill cw SIGKILL']));
    expect(runc.calls).toEqual(expect.arrayContaining(['update co']));
    expect(ids(runc)).not.toContain('cw');
    expect(ids(wrapped)).not.toContain('co');
  });

  it('falls back to the default for a handler no longer configured, and asks every runtime about unknown ids', async () => {
    await cz.launch(topLevel('gone'), { kind: 'sandbox', config: sandbox('gone', 'kata', 'kata') }, ctx);
    await run(nested(topLevel('gone'), 'cg'));
    expect(runc.calls).toContain('start cg');
    const set = new RuntimeSet(new Map([['runc', runc], ['wrapped', wrapped]]), 'runc');
    wrapped.created('stray');
    expect(await set.state('stray', ctx)).toMatchObject({ id: 'stray' });
    expect(await set.delete('stray', ctx)).toBe(true);
    expect(await set.delete('stray', ctx)).toBe(false);
    expect(set.names()).toEqual(['runc', 'wrapped']);
    expect(() => new RuntimeSet(new Map([['runc', runc]]), 'crun')).toThrow(/not configured/);
  });

  it('lists each distinct runtime once (two handler names over the same binary and root)', async () => {
    const set = new RuntimeSet(new Map([['a', runc], ['b', fake('/run/a')], ['c', wrapped]]), 'a');
    runc.created('x');
    wrapped.created('y');
    expect((await set.list(ctx)).map((s) => s.id).sort()).toEqual(['x', 'y']);
  });
});
