import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CriError } from '../../common/errors';
import { FakeDbusError, FakeDbusPeer } from '../../common/dbus/fake-peer';
import { variant, type Message } from '../../common/dbus/wire';
import { expandSlice, isSystemdCgroupsPath, resolveSystemdCgroupsPath, resourceProperties, systemdCgroupsPath, SystemdManager } from './systemd-cgroups';

describe('systemd slice and scope names', () => {
  it('expands slices by their dashes as systemd and runc do', () => {
    expect(expandSlice('-.slice')).toBe('');
    expect(expandSlice('kubepods.slice')).toBe('kubepods.slice');
    expect(expandSlice('kubepods-burstable-pod1234_5678.slice')).toBe('kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice');
  });

  it.each(['kubepods', '/kubepods.slice', 'a/b.slice', 'a--b.slice', '-a.slice', 'a-.slice', '.slice', '../x.slice', 'a b.slice'])('refuses %j (InvalidArgument)', (s) => {
    expect(() => expandSlice(s)).toThrow(CriError);
    try {
      expandSlice(s);
    } catch (e) {
      expect((e as CriError).code).toBe('InvalidArgument');
    }
  });

  it("builds and resolves runc's slice:prefix:name cgroupsPath", () => {
    const p = systemdCgroupsPath('kubepods-besteffort-podab.slice', 'c0ffee');
    expect(p).toBe('kubepods-besteffort-podab.slice:mesos-cri:c0ffee');
    expect(isSystemdCgroupsPath(p)).toBe(true);
    expect(isSystemdCgroupsPath('/kubepods/besteffort/podab/c0ffee')).toBe(false);
    expect(resolveSystemdCgroupsPath(p)).toEqual({
      slice: 'kubepods-besteffort-podab.slice',
      unit: 'mesos-cri-c0ffee.scope',
      fsPath: 'kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podab.slice/mesos-cri-c0ffee.scope',
    });
    expect(() => systemdCgroupsPath('kubepods.slice', '../x')).toThrow(CriError);
  });

  it('converts resources to unit properties (v2 and v1 names, quota per second rounded up to 10 ms)', () => {
    const r = { memory: { limit: 1 << 30 }, cpu: { shares: 1024, quota: 33_333, period: 100_000 }, pids: { limit: 50 } };
    expect(resourceProperties(r, true)).toEqual([
      ['MemoryMax', variant('t', 1n << 30n)],
      ['CPUWeight', variant('t', 39n)],
      ['CPUQuotaPerSecUSec', variant('t', 340_000n)],
      ['TasksMax', variant('t', 50n)],
    ]);
    expect(resourceProperties({ memory: { limit: 4096 }, cpu: { shares: 2, quota: 50_000, period: 50_000 } }, false)).toEqual([
      ['MemoryLimit', variant('t', 4096n)],
      ['CPUShares', variant('t', 2n)],
      ['CPUQuotaPeriodUSec', variant('t', 50_000n)],
      ['CPUQuotaPerSecUSec', variant('t', 1_000_000n)],
    ]);
    expect(resourceProperties({ cpu: { quota: -1 } }, true)).toEqual([['CPUQuotaPerSecUSec', variant('t', 2n ** 64n - 1n)]]);
    expect(resourceProperties(undefined, true)).toEqual([]);
  });
});

describe('SystemdManager against a fake D-Bus peer', () => {
  let dir = '';
  let peer: FakeDbusPeer;
  let mgr: SystemdManager | undefined;
  let jobs = 0;
  const units = new Set<string>();

  /** A peer that behaves like systemd's Manager: units, jobs, JobRemoved, UnitExists, NoSuchUnit. */
  const systemd = (call: Message) => {
    const iface = call.interface;
    if (iface === 'org.freedesktop.DBus' && call.member === 'AddMatch') return {};
    if (iface !== 'org.freedesktop.systemd1.Manager') throw new FakeDbusError('org.freedesktop.DBus.Error.UnknownMethod', 'no');
    if (call.member === 'Subscribe') return {};
    const [unit] = call.body as [string];
    const job = `/org/freedesktop/systemd1/job/${++jobs}`;
    if (call.member === 'StartTransientUnit') {
      if (units.has(unit)) throw new FakeDbusError('org.freedesktop.systemd1.UnitExists', `Unit ${unit} was already loaded or has a fragment file.`);
      units.add(unit);
      return {
        signature: 'o',
        body: [job],
        after: () => peer.signal('/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'JobRemoved', 'uoss', [jobs, job, unit, unit.startsWith('fail') ? 'failed' : 'done']),
      };
    }
    if (call.member === 'StopUnit') {
      if (!units.delete(unit)) throw new FakeDbusError('org.freedesktop.systemd1.NoSuchUnit', `Unit ${unit} not loaded.`);
      return { signature: 'o', body: [job] };
    }
    throw new FakeDbusError('org.freedesktop.DBus.Error.UnknownMethod', call.member ?? '');
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-unit-'));
    units.clear();
    peer = new FakeDbusPeer(join(dir, 'private'), systemd);
    await peer.listen();
  });
  afterEach(async () => {
    mgr?.close();
    mgr = undefined;
    await peer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const calls = (member: string) => peer.calls.filter((c) => c.member === member);

  it('starts a scope with exactly the properties runc sends, over the private socket (no Hello)', async () => {
    mgr = new SystemdManager({ socketPath: peer.path, bus: false, v2: true });
    await mgr.startScope('mesos-cri-abc.scope', 'kubepods-burstable-pod1.slice', [4242], { memory: { limit: 1 << 20 }, cpu: { shares: 512 } }, 'mesos-cri sandbox abc');
    expect(peer.authUids).toEqual([String(process.getuid!())]);
    expect(calls('Hello')).toHaveLength(0);
    expect(calls('Subscribe')).toHaveLength(1);
    const [start] = calls('StartTransientUnit');
    expect(start!.destination).toBe('org.freedesktop.systemd1');
    expect(start!.path).toBe('/org/freedesktop/systemd1');
    expect(start!.signature).toBe('ssa(sv)a(sa(sv))');
    expect(start!.body).toEqual([
      'mesos-cri-abc.scope',
      'replace',
      [
        ['Description', variant('s', 'mesos-cri sandbox abc')],
        ['Slice', variant('s', 'kubepods-burstable-pod1.slice')],
        ['Delegate', variant('b', true)],
        ['PIDs', variant('au', [4242])],
        ['DefaultDependencies', variant('b', false)],
        ['MemoryAccounting', variant('b', true)],
        ['CPUAccounting', variant('b', true)],
        ['TasksAccounting', variant('b', true)],
        ['MemoryMax', variant('t', 1n << 20n)],
        ['CPUWeight', variant('t', 20n)],
      ],
      [],
    ]);
  });

  it('on the system bus: Hello and an AddMatch for JobRemoved come first', async () => {
    mgr = new SystemdManager({ socketPath: peer.path, bus: true, v2: false });
    await mgr.startSlice('mesos_cri-podx.slice', { cpu: { shares: 256 } }, 'pod x');
    expect(peer.calls.map((c) => c.member)).toEqual(['Hello', 'AddMatch', 'Subscribe', 'StartTransientUnit']);
    expect(calls('AddMatch')[0]!.body![0]).toContain("member='JobRemoved'");
    const props = calls('StartTransientUnit')[0]!.body![2] as Array<[string, unknown]>;
    expect(props).toContainEqual(['CPUShares', variant('t', 256n)]);
    expect(props.map(([k]) => k)).not.toContain('Slice');
  });

  it('a unit that exists is AlreadyExists; a failed job is Internal; one connection serves both', async () => {
    mgr = new SystemdManager({ socketPath: peer.path, bus: false, v2: true });
    await mgr.startScope('mesos-cri-a.scope', 'kubepods.slice', [1], undefined, 'a');
    const dup = await mgr.startScope('mesos-cri-a.scope', 'kubepods.slice', [1], undefined, 'a').catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(CriError);
    expect((dup as CriError).code).toBe('AlreadyExists');
    expect((dup as CriError).message).toContain('org.freedesktop.systemd1.UnitExists');
    const failed = await mgr.startSlice('fail-x.slice', undefined, 'x').catch((e: unknown) => e);
    expect((failed as CriError).code).toBe('Internal');
    expect((failed as CriError).message).toContain('"failed"');
    expect(peer.authUids).toHaveLength(1);
  });

  it('StopUnit stops; stopping a unit that is gone is not an error', async () => {
    mgr = new SystemdManager({ socketPath: peer.path, bus: false, v2: true });
    await mgr.startScope('mesos-cri-b.scope', 'kubepods.slice', [1], undefined, 'b');
    await mgr.stopUnit('mesos-cri-b.scope');
    expect(units.has('mesos-cri-b.scope')).toBe(false);
    await mgr.stopUnit('mesos-cri-b.scope');
    expect(calls('StopUnit').map((c) => c.body)).toEqual([
      ['mesos-cri-b.scope', 'replace'],
      ['mesos-cri-b.scope', 'replace'],
    ]);
  });

  it('a job that never finishes times out as Internal', async () => {
    peer.handler = (call) => (call.member === 'StartTransientUnit' ? { signature: 'o', body: ['/org/freedesktop/systemd1/job/9'] } : {});
    mgr = new SystemdManager({ socketPath: peer.path, bus: false, v2: true, jobTimeoutMs: 50 });
    const err = await mgr.startScope('mesos-cri-c.scope', 'kubepods.slice', [1], undefined, 'c').catch((e: unknown) => e);
    expect((err as CriError).code).toBe('Internal');
    expect((err as CriError).message).toContain('"timeout"');
  });

  it('no socket, or a peer that refuses authentication, is Unavailable naming the socket; bad names never reach the peer', async () => {
    mgr = new SystemdManager({ socketPath: join(dir, 'missing'), bus: false, v2: true });
    const err = await mgr.stopUnit('x.scope').catch((e: unknown) => e);
    expect((err as CriError).code).toBe('Unavailable');
    expect((err as CriError).message).toContain(join(dir, 'missing'));
    peer.refuseAuth = true;
    const refused = await new SystemdManager({ socketPath: peer.path, bus: false, v2: true }).stopUnit('x.scope').catch((e: unknown) => e);
    expect((refused as CriError).code).toBe('Unavailable');
    expect((refused as CriError).message).toContain('refused EXTERNAL');
    peer.refuseAuth = false;
    const m2 = new SystemdManager({ socketPath: peer.path, bus: false, v2: true });
    await expect(m2.startScope('../evil.scope', 'kubepods.slice', [1], undefined, 'x')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(m2.startScope('ok.scope', 'a/b.slice', [1], undefined, 'x')).rejects.toMatchObject({ code: 'InvalidArgument' });
    m2.close();
    expect(calls('StartTransientUnit')).toHaveLength(0);
  });
});
