import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background, type Ctx } from '../../common/ctx';
import type { SandboxConfig } from '../launch-config';
import { Core, type ContainerizerDeps, type WriteSandboxFiles } from '../core';
import { sandboxConfig, securityContext } from '../oci/test-fixtures';
import { shmDir, type Roots } from '../paths';
import type { OciResources } from '../oci/types';
import type { SandboxRecord } from '../state';
import type { CgroupUsage } from './cgroup-fs';
import { parseNetDev } from './cgroup-detail';
import type { Cgroups } from './cgroups';
import { infraCgroupOf, SandboxCgroupsIsolator } from './cgroups-isolator';
import { IsolatorList, type SandboxLaunch } from './isolator';
import type { NetworkAttachRequest, NetworkIsolator, PodNetworkInfo } from './network';
import { SandboxNetworkIsolator } from './network-isolator';
import type { ShmIsolator } from './shm';
import { SandboxShmIsolator } from './shm-isolator';

const ctx = background();

/** Fakes behind the interfaces the adapters wrap; every call lands in one log, in order. */
class FakeCgroups implements Pick<Cgroups, 'create' | 'killAll' | 'remove' | 'childPath' | 'applyLimits' | 'usage'> {
  fail: { create?: Error; killAll?: Error } = {};
  constructor(private readonly log: string[]) {}
  async create(path: string): Promise<string[]> {
    this.log.push(`cgroups.create ${path}`);
    if (this.fail.create) throw this.fail.create;
    return [`/sys/fs/cgroup/memory${path}`, `/sys/fs/cgroup/cpu${path}`];
  }
  async killAll(path: string): Promise<void> {
    this.log.push(`cgroups.killAll ${path}`);
    if (this.fail.killAll) throw this.fail.killAll;
  }
  async remove(path: string): Promise<void> {
    this.log.push(`cgroups.remove ${path}`);
  }
  childPath(pod: string, id: string): string {
    return `${pod}/${id}`;
  }
  applyLimits(path: string, limits: OciResources): void {
    this.log.push(`cgroups.applyLimits ${path} ${JSON.stringify(limits)}`);
  }
  async usage(path: string, now: bigint): Promise<CgroupUsage> {
    this.log.push(`cgroups.usage ${path}`);
    return { timestampNs: now, memoryUsageBytes: 4096n };
  }
}

class FakeNetwork implements NetworkIsolator {
  failAttach: Error | undefined;
  attached: NetworkAttachRequest[] = [];
  known: ReadonlySet<string> | undefined;
  constructor(private readonly log: string[]) {}
  async recover(known: ReadonlySet<string>): Promise<void> {
    this.log.push('network.recover');
    this.known = known;
  }
  async attach(req: NetworkAttachRequest): Promise<PodNetworkInfo> {
    this.log.push(`network.attach ${req.sandboxId}`);
    if (this.failAttach) throw this.failAttach;
    this.attached.push(req);
    return { netnsPath: `/run/netns/${req.sandboxId}`, ips: ['10.0.0.7', 'fd00::7'] };
  }
  async detach(id: string): Promise<void> {
    this.log.push(`network.detach ${id}`);
  }
}

class FakeShm implements Pick<ShmIsolator, 'cleanup'> {
  constructor(private readonly log: string[]) {}
  async cleanup(dir: string, _ctx: Ctx): Promise<void> {
    this.log.push(`shm.cleanup ${dir}`);
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeFiles(log: string[]): WriteSandboxFiles {
  return async (dir, opts) => {
    log.push(`writeFiles ${opts.ips.join(',') || '-'}${opts.hostNetwork ? ' host' : ''}`);
    return { hostname: `${dir}/hostname`, hosts: `${dir}/hosts`, resolvConf: `${dir}/resolv.conf` };
  };
}

const config = (network: 'node' | 'pod', over: Partial<SandboxConfig> = {}): SandboxConfig =>
  sandboxConfig({ security: securityContext({ namespaces: { network, pid: 'container', ipc: 'pod', targetId: '' } }), ...over });

function record(id: string, over: Partial<SandboxRecord> = {}): SandboxRecord {
  return { id, config: config('pod'), phase: 'preparing', createdAt: 1n, podCgroup: `/pods/${id}`, ownsPodCgroup: true, hostNetwork: false, sharedPid: false, ips: [], ...over };
}

function launchOf(log: string[], rec: SandboxRecord, podCidrs: readonly string[] = []): SandboxLaunch {
  return {
    id: rec.id,
    config: rec.config,
    rec,
    podCidrs,
    ctx,
    lap: (phase) => log.push(`lap ${phase}`),
    checkpoint: async () => {
      log.push(`checkpoint ${rec.netnsPath ?? '-'} ${rec.ips.join(',')}`);
    },
  };
}

let base: string;
let roots: Roots;
let log: string[];
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'sb-iso-'));
  roots = { workDir: join(base, 'lib'), runDir: join(base, 'run') };
  log = [];
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('SandboxCgroupsIsolator', () => {
  it('creates the infra cgroup under the pod cgroup and hands its dirs on; cleanup kills, then removes it, never the pod cgroup', async () => {
    const iso = new SandboxCgroupsIsolator(new FakeCgroups(log), () => 7n);
    const rec = record('s1');
    expect(infraCgroupOf(new FakeCgroups(log), rec)).toBe('/pods/s1/s1');
    expect(await iso.prepare(launchOf(log, rec))).toEqual({ cgroupDirs: ['/sys/fs/cgroup/memory/pods/s1/s1', '/sys/fs/cgroup/cpu/pods/s1/s1'] });
    await iso.cleanup(rec);
    // An orphan (recovery's sweep): derived from the id alone.
    await iso.cleanup({ id: 'o', podCgroup: '/mesos-cri/o', hostNetwork: false, orphan: true });
    expect(log).toEqual([
      'cgroups.create /pods/s1/s1',
      'cgroups.killAll /pods/s1/s1',
      'cgroups.remove /pods/s1/s1',
      'cgroups.killAll /mesos-cri/o/o',
      'cgroups.remove /mesos-cri/o/o',
    ]);
  });

  it('writes a running sandbox\'s new limits to the pod cgroup and reads its usage there', async () => {
    const iso = new SandboxCgroupsIsolator(new FakeCgroups(log), () => 7n);
    const rec = record('s1');
    await new IsolatorList([iso]).update(rec, { memory: { limit: 1 << 20 } }, ctx);
    expect(await new IsolatorList([iso]).usage(rec, ctx)).toEqual({ timestampNs: 7n, memoryUsageBytes: 4096n });
    expect(log).toEqual([`cgroups.applyLimits /pods/s1 ${JSON.stringify({ memory: { limit: 1 << 20 } })}`, 'cgroups.usage /pods/s1']);
  });

  it('does not remove a cgroup it could not empty', async () => {
    const cg = new FakeCgroups(log);
    cg.fail.killAll = new Error('EACCES');
    await expect(new SandboxCgroupsIsolator(cg, () => 7n).cleanup(record('s1'))).rejects.toThrow('EACCES');
    expect(log).toEqual(['cgroups.killAll /pods/s1/s1']);
  });
});

describe('SandboxShmIsolator', () => {
  it('makes the mount point under the run dir (0755) and takes it down by the id alone', async () => {
    const iso = new SandboxShmIsolator(new FakeShm(log), roots);
    const dir = shmDir(roots, 's1');
    expect(await iso.prepare(launchOf(log, record('s1')))).toEqual({ files: { shm: dir } });
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    await iso.cleanup({ id: 's1', podCgroup: '/x', hostNetwork: false, orphan: true }, ctx);
    expect(existsSync(dir)).toBe(false);
    expect(log).toEqual([`shm.cleanup ${dir}`]);
  });
});

describe('SandboxNetworkIsolator', () => {
  const make = (net: NetworkIsolator, infraAlive = (): boolean => true) => new SandboxNetworkIsolator({ network: net, writeFiles: writeFiles(log), roots, infraAlive });

  it('attaches, checkpoints the netns and IPs, then writes the pod files naming those IPs, with the launch phases in between', async () => {
    const net = new FakeNetwork(log);
    const rec = record('s1', { config: config('pod', { dns: { servers: ['1.1.1.1'], searches: [], options: [] }, cgroupParent: '/kubepods/p' }) });
    const info = await make(net).prepare(launchOf(log, rec, ['10.0.0.0/16']));
    expect(log).toEqual(['network.attach s1', 'checkpoint /run/netns/s1 10.0.0.7,fd00::7', 'lap network', 'writeFiles 10.0.0.7,fd00::7', 'lap files']);
    expect(net.attached[0]).toMatchObject({ podName: 'pod', podNamespace: 'default', podUid: 'pod-uid', cgroupParent: '/kubepods/p', ipRanges: ['10.0.0.0/16'], dns: { servers: ['1.1.1.1'] } });
    expect(rec).toMatchObject({ netnsPath: '/run/netns/s1', ips: ['10.0.0.7', 'fd00::7'] });
    const files = join(roots.workDir, 'containerizer', 'sandboxes', 's1', 'files');
    expect(info).toEqual({ files: { hostname: `${files}/hostname`, hosts: `${files}/hosts`, resolvConf: `${files}/resolv.conf` } });
  });

  it('measures the pod\'s interfaces through its live infra process, none for host network or a gone infra', async () => {
    const net = new FakeNetwork(log);
    // This test's own process stands in for the infra process: its /proc view is a network namespace.
    const rec = record('s1', { infraPid: process.pid });
    const own = parseNetDev(readFileSync(`/proc/${process.pid}/net/dev`, 'utf8'));
    expect(await make(net).usage(rec)).toEqual(own.length > 0 ? { network: expect.arrayContaining(own.map((i) => expect.objectContaining({ name: i.name }))) } : { network: [] });
    expect(await make(net).usage({ ...rec, hostNetwork: true })).toEqual({});
    expect(await make(net, () => false).usage(rec)).toEqual({});
  });

  it('leaves a host-network pod off CNI but still writes its files; no ipRanges without pod CIDRs', async () => {
    const net = new FakeNetwork(log);
    await make(net).prepare(launchOf(log, record('h', { hostNetwork: true, config: config('node') })));
    expect(log).toEqual(['lap network', 'writeFiles - host', 'lap files']);
    await make(net).prepare(launchOf(log, record('p')));
    expect(net.attached[0]).not.toHaveProperty('ipRanges');
  });

  it('fails before writing anything when CNI ADD fails', async () => {
    const net = new FakeNetwork(log);
    net.failAttach = new Error('plugin failed');
    const rec = record('s1');
    await expect(make(net).prepare(launchOf(log, rec))).rejects.toThrow('plugin failed');
    expect(log).toEqual(['network.attach s1']);
    expect(rec.netnsPath).toBeUndefined();
  });

  it('detaches on cleanup unless the pod is on the host network or an orphan (its recover drops those)', async () => {
    const iso = make(new FakeNetwork(log));
    await iso.cleanup(record('a'), ctx);
    await iso.cleanup(record('h', { hostNetwork: true }), ctx);
    await iso.cleanup({ id: 'o', podCgroup: '/x', hostNetwork: false, orphan: true }, ctx);
    expect(log).toEqual(['network.detach a']);
  });

  it('recovers with the running pod-network sandboxes and the untouched ones as known', async () => {
    const net = new FakeNetwork(log);
    const sandboxes = [record('run', { phase: 'running' }), record('stopped', { phase: 'stopped' }), record('host', { phase: 'running', hostNetwork: true })];
    await make(net).recover({ sandboxes, untouched: new Set(['unreadable']) }, ctx);
    expect([...(net.known ?? [])].sort()).toEqual(['run', 'unreadable']);
  });
});

describe("the containerizer's isolator list (Core)", () => {
  function core(): { core: Core; cg: FakeCgroups; net: FakeNetwork } {
    const cg = new FakeCgroups(log);
    const net = new FakeNetwork(log);
    const deps = { roots, cgroups: cg, network: net, shm: new FakeShm(log), writeFiles: writeFiles(log), exec: async () => ({}) } as unknown as ContainerizerDeps;
    return { core: new Core(deps), cg, net };
  }
  const shmMade = (id: string) => existsSync(shmDir(roots, id));

  it('prepares shm, network (with the files), cgroups in that order and cleans up in reverse: cgroups, network, shm', async () => {
    const { core: c } = core();
    expect(c.isolators.all.map((i) => i.name)).toEqual(['shm', 'network', 'cgroups']);
    const rec = record('s1');
    const info = await c.isolators.prepare(launchOf(log, rec));
    expect(shmMade('s1')).toBe(true);
    expect(info.files).toMatchObject({ shm: shmDir(roots, 's1'), hosts: expect.stringMatching(/files\/hosts$/) });
    expect(info.cgroupDirs).toHaveLength(2);
    log.push('--');
    await c.isolators.cleanup(rec, ctx);
    expect(log).toEqual([
      'network.attach s1',
      'checkpoint /run/netns/s1 10.0.0.7,fd00::7',
      'lap network',
      'writeFiles 10.0.0.7,fd00::7',
      'lap files',
      'cgroups.create /pods/s1/s1',
      '--',
      'cgroups.killAll /pods/s1/s1',
      'cgroups.remove /pods/s1/s1',
      'network.detach s1',
      `shm.cleanup ${shmDir(roots, 's1')}`,
    ]);
    expect(shmMade('s1')).toBe(false);
  });

  it('a failure in prepare stops the walk, and the rollback cleans every isolator in reverse, prepared or not', async () => {
    // CNI ADD fails: the shm mount point made before it goes; the cgroup never made is removed idempotently.
    const { core: c, net, cg } = core();
    net.failAttach = new Error('plugin failed');
    const rec = record('s1');
    await expect(c.isolators.prepare(launchOf(log, rec))).rejects.toThrow('plugin failed');
    expect(shmMade('s1')).toBe(true);
    await c.isolators.cleanup(rec, ctx);
    expect(log).toEqual(['network.attach s1', 'cgroups.killAll /pods/s1/s1', 'cgroups.remove /pods/s1/s1', 'network.detach s1', `shm.cleanup ${shmDir(roots, 's1')}`]);
    expect(shmMade('s1')).toBe(false);

    // The last isolator fails: everything before it is undone.
    log.length = 0;
    net.failAttach = undefined;
    cg.fail.create = new Error('ENOSPC');
    await expect(c.isolators.prepare(launchOf(log, record('s2')))).rejects.toThrow('ENOSPC');
    await c.isolators.cleanup(record('s2'), ctx);
    expect(log.filter((l) => !l.startsWith('lap') && !l.startsWith('checkpoint'))).toEqual([
      'network.attach s2',
      'writeFiles 10.0.0.7,fd00::7',
      'cgroups.create /pods/s2/s2',
      'cgroups.killAll /pods/s2/s2',
      'cgroups.remove /pods/s2/s2',
      'network.detach s2',
      `shm.cleanup ${shmDir(roots, 's2')}`,
    ]);
    expect(shmMade('s2')).toBe(false);
  });

  it("sweeps an orphan: the network is left to its recover, and a failing isolator does not stop the others when reported", async () => {
    const { core: c, cg } = core();
    cg.fail.killAll = new Error('EACCES');
    const failed: string[] = [];
    await c.isolators.cleanup({ id: 'o', podCgroup: '/mesos-cri/o', hostNetwork: false, orphan: true }, ctx, { onError: (iso) => failed.push(iso.name) });
    expect(failed).toEqual(['cgroups']);
    expect(log).toEqual(['cgroups.killAll /mesos-cri/o/o', `shm.cleanup ${shmDir(roots, 'o')}`]);
  });
});
