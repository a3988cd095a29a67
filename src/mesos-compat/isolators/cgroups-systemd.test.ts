import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanupCtx } from '../../common/ctx';
import { FakeDbusPeer } from '../../common/dbus/fake-peer';
import { variant } from '../../common/dbus/wire';
import { cgroupParentFor } from '../index';
import { RuncRuntime } from '../runc';
import { Cgroups } from './cgroups';
import { SystemdManager } from './systemd-cgroups';

/** The Cgroups facade with the systemd driver: names, scopes through the (fake) Manager, reads at the expanded paths. */
describe('Cgroups with the systemd driver', () => {
  let dir = '';
  let peer: FakeDbusPeer;
  let mgr: SystemdManager;
  let root = '';

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-sd-'));
    root = join(dir, 'cgroup');
    mkdirSync(root);
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
    let job = 0;
    peer = new FakeDbusPeer(join(dir, 'private'), (call) => {
      if (call.member === 'StartTransientUnit') {
        const path = `/org/freedesktop/systemd1/job/${++job}`;
        return { signature: 'o', body: [path], after: () => peer.signal('/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'JobRemoved', 'uoss', [job, path, call.body![0], 'done']) };
      }
      if (call.member === 'StopUnit') return { signature: 'o', body: ['/org/freedesktop/systemd1/job/99'] };
      return {};
    });
    await peer.listen();
    mgr = new SystemdManager({ socketPath: peer.path, bus: false, v2: true });
  });
  afterEach(async () => {
    mgr.close();
    await peer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names pods as slices and containers as slice:mesos-cri:id; refuses non-slice parents', () => {
    const cg = new Cgroups(root, () => '', undefined, mgr);
    expect(cg.driver).toBe('systemd');
    expect(cg.podPath('mesos_cri.slice', 'abc')).toBe('mesos_cri-podabc.slice');
    expect(cg.podPath('-.slice', 'abc')).toBe('podabc.slice');
    expect(cg.childPath('kubepods-burstable-pod12.slice', 'c1')).toBe('kubepods-burstable-pod12.slice:mesos-cri:c1');
    expect(cg.checkParent('kubepods-burstable-pod12.slice')).toBe('kubepods-burstable-pod12.slice');
    expect(() => cg.checkParent('/kubepods/burstable/pod12')).toThrow(/not a systemd slice/);
    const fs = new Cgroups(root, () => '');
    expect(fs.driver).toBe('cgroupfs');
    expect(fs.childPath('/kubepods/pod12', 'c1')).toBe('/kubepods/pod12/c1');
    expect(fs.podPath('/mesos-cri/', 'abc')).toBe('/mesos-cri/abc');
  });

  it('the infra scope is started with its pid by adopt, stopped by remove; stats are read from the expanded path', async () => {
    const cg = new Cgroups(root, () => '', undefined, mgr);
    const infra = cg.childPath('kubepods-besteffort-pod9.slice', 'sb1');
    expect(await cg.create(infra)).toEqual([]);
    await cg.adopt(infra, 4321, 'mesos-cri sandbox sb1');
    const start = peer.calls.find((c) => c.member === 'StartTransientUnit')!;
    expect(start.body![0]).toBe('mesos-cri-sb1.scope');
    expect(start.body![2]).toContainEqual(['PIDs', variant('au', [4321])]);
    expect(start.body![2]).toContainEqual(['Slice', variant('s', 'kubepods-besteffort-pod9.slice')]);
    const leaf = join(root, 'kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9.slice/mesos-cri-sb1.scope');
    mkdirSync(leaf, { recursive: true });
    writeFileSync(join(leaf, 'memory.current'), '4096\n');
    writeFileSync(join(leaf, 'cpu.stat'), 'usage_usec 7\n');
    expect(await cg.usage(infra, 1n)).toMatchObject({ memoryUsageBytes: 4096n, cpuUsageNs: 7000n });
    expect(await cg.dirs('kubepods-besteffort-pod9.slice')).toEqual([join(root, 'kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9.slice')]);
    rmSync(join(leaf, 'memory.current'));
    rmSync(join(leaf, 'cpu.stat'));
    await cg.remove(infra);
    await cg.remove('mesos_cri-podsb1.slice');
    expect(peer.calls.filter((c) => c.member === 'StopUnit').map((c) => c.body![0])).toEqual(['mesos-cri-sb1.scope', 'mesos_cri-podsb1.slice']);
  });

  it('with cgroupfs, adopt talks to nobody and create makes the directory', async () => {
    const cg = new Cgroups(root, () => '');
    await cg.adopt('/p/sb', 1, 'x');
    expect(await cg.create('/p/sb')).toEqual([join(root, 'p/sb')]);
    expect(peer.calls).toHaveLength(0);
  });

  it('runc gets --systemd-cgroup; the default parent becomes mesos_cri.slice; a cgroupfs parent is refused', async () => {
    const seen: string[][] = [];
    const exec = async (_file: string, args: readonly string[]) => {
      seen.push([...args]);
      return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), code: 0, signal: null };
    };
    await new RuncRuntime({ name: 'crun', path: '/bin/true', root: '/run/x', systemdCgroup: true, exec }).start('c1', cleanupCtx());
    await new RuncRuntime({ name: 'crun', path: '/bin/true', root: '/run/x', exec }).start('c1', cleanupCtx());
    expect(seen).toEqual([
      ['--root', '/run/x', '--systemd-cgroup', 'start', 'c1'],
      ['--root', '/run/x', 'start', 'c1'],
    ]);
    expect(cgroupParentFor({ cgroupParent: '/mesos-cri', cgroupDriver: 'systemd' })).toBe('mesos_cri.slice');
    expect(cgroupParentFor({ cgroupParent: 'system-pods.slice', cgroupDriver: 'systemd' })).toBe('system-pods.slice');
    expect(() => cgroupParentFor({ cgroupParent: '/custom', cgroupDriver: 'systemd' })).toThrow(/not a systemd slice/);
    expect(cgroupParentFor({ cgroupParent: '/custom', cgroupDriver: 'cgroupfs' })).toBe('/custom');
  });
});
