import { describe, expect, it } from 'vitest';
import { nativeBinary } from '../../common/native';
import { defaults, type Config } from '../config';
import { checkBinaries, checkCgroupDriver, checkCgroups, checkCommand, checkOverlay, checkSocket, checkSpace, type Host } from './check-cmd';

/** A recorded host: files by path, executables, stats. */
function host(over: Partial<Host> & { files?: Record<string, string>; execs?: string[] } = {}): Host {
  const files = over.files ?? {};
  const execs = new Set(over.execs ?? []);
  return {
    readFile: (p) => files[p],
    exists: (p) => p in files || execs.has(p),
    executable: (p) => execs.has(p),
    freeBytes: () => 50 * 1024 ** 3,
    stat: () => undefined,
    version: async (p) => `${p} version 1.0`,
    loadError: async () => undefined,
    pathEnv: '/usr/bin',
    nodeVersion: '20.11.0',
    ...over,
  };
}

const V2_MOUNTINFO = '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
const V1_MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

describe('mesos-cri check', () => {
  it('reads the cgroup layout: v2 unified with its controllers, v1 (hybrid), missing controllers fail', () => {
    expect(checkCgroups(host({ files: { '/proc/self/mountinfo': V2_MOUNTINFO, '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma\n' } }))).toMatchObject({
      verdict: 'ok',
      detail: expect.stringContaining('v2 unified'),
    });
    expect(checkCgroups(host({ files: { '/proc/self/mountinfo': V2_MOUNTINFO, '/sys/fs/cgroup/cgroup.controllers': 'cpuset io\n' } }))).toMatchObject({
      verdict: 'fail',
      detail: 'v2 unified, controllers missing: cpu, memory, pids',
    });
    expect(checkCgroups(host({ files: { '/proc/self/mountinfo': V1_MOUNTINFO } })).detail).toContain('hybrid, v2 at /sys/fs/cgroup/unified');
    expect(checkCgroups(host({ files: { '/proc/self/mountinfo': V1_MOUNTINFO.replace(/.*pids.*\n/, '') } })).verdict).toBe('fail');
    expect(checkCgroups(host({ files: { '/proc/self/mountinfo': '' } })).verdict).toBe('fail');
  });

  it('overlay missing: a warning under auto, a failure when the backend is forced to overlay', () => {
    const h = host({ files: { '/proc/filesystems': 'nodev\tcgroup\n\text4\n' } });
    expect(checkOverlay(h, 'auto').verdict).toBe('warn');
    expect(checkOverlay(h, 'overlay').verdict).toBe('fail');
    expect(checkOverlay(host({ files: { '/proc/filesystems': 'nodev\toverlay\n' } }), 'overlay').verdict).toBe('ok');
  });

  it('names missing binaries and old Node, and reports versions', async () => {
    const cfg: Config = { ...defaults(), runtime: { name: 'runc', path: '', root: '' }, execHelper: '/opt/x/mesos-cri-exec' };
    const res = await checkBinaries(host({ execs: ['/usr/bin/runc', '/usr/bin/catatonit'], nodeVersion: '18.19.0' }), cfg);
    expect(res.find((r) => r.name === 'node')).toMatchObject({ verdict: 'fail' });
    expect(res.find((r) => r.name === 'oci runtime runc')).toMatchObject({ verdict: 'ok', detail: '/usr/bin/runc: /usr/bin/runc version 1.0' });
    expect(res.find((r) => r.name === 'conmon')).toMatchObject({ verdict: 'fail', detail: '/usr/bin/conmon: not found or not executable' });
    expect(res.find((r) => r.name === 'exec helper')).toMatchObject({ verdict: 'fail' });
    const none = await checkBinaries(host({ execs: [] }), { ...defaults(), runtime: { name: 'auto', path: '', root: '' } });
    expect(none.find((r) => r.name === 'oci runtime')).toMatchObject({ verdict: 'fail', detail: 'runc or crun not found in PATH' });
    const named = await checkBinaries(host({ execs: ['/usr/bin/runc', '/opt/runc-wrap'] }), {
      ...defaults(),
      runtimes: { runc: { type: '', path: '', root: '' }, wrapped: { type: '', path: '/opt/runc-wrap', root: '' }, gone: { type: '', path: '/opt/gone', root: '' } },
    });
    expect(named.find((r) => r.name === 'runtime handler wrapped')).toMatchObject({ verdict: 'ok' });
    expect(named.find((r) => r.name === 'runtime handler gone')).toMatchObject({ verdict: 'fail', detail: '/opt/gone is not an executable' });
  });

  it('fails an unpack helper the loader cannot start (no libarchive13 on the node)', async () => {
    const unpack = nativeBinary('mesos-cri-unpack');
    const missing = 'mesos-cri-unpack: error while loading shared libraries: libarchive.so.13: cannot open shared object file: No such file or directory';
    const res = await checkBinaries(host({ execs: ['/usr/bin/runc', unpack], loadError: async (p) => (p === unpack ? missing : undefined) }), defaults());
    expect(res.find((r) => r.name === 'unpack helper')).toEqual({ name: 'unpack helper', verdict: 'fail', detail: `${unpack}: ${missing}` });
    const fine = await checkBinaries(host({ execs: ['/usr/bin/runc', unpack] }), defaults());
    expect(fine.find((r) => r.name === 'unpack helper')).toMatchObject({ verdict: 'ok' });
  });

  it('fails a socket others can reach or a group/world-writable socket dir', () => {
    const cfg = { ...defaults(), socket: '/run/x/s.sock' };
    const st = (dirMode: number, sockMode: number) =>
      host({ stat: (p) => (p === '/run/x' ? { mode: dirMode, uid: 0, gid: 0, socket: false } : { mode: sockMode, uid: 0, gid: 0, socket: true }) });
    expect(checkSocket(st(0o711, 0o660), cfg).verdict).toBe('ok');
    expect(checkSocket(st(0o711, 0o666), cfg)).toMatchObject({ verdict: 'fail', detail: expect.stringContaining('accessible to others') });
    expect(checkSocket(st(0o777, 0o660), cfg)).toMatchObject({ verdict: 'fail', detail: expect.stringContaining('writable by group or others') });
  });

  it('fails below 256 MiB free, warns below 2 GiB for images, and exits 1 on any failure', async () => {
    const low = host({ freeBytes: (p) => (p.includes('lib') ? 1024 ** 3 : 100 * 1024 ** 2) });
    const res = checkSpace(low, defaults());
    expect(res.map((r) => r.verdict)).toEqual(['warn', 'fail']);
    const out = { text: '', write(s: string) { this.text += s; return true; } };
    expect(await checkCommand(defaults(), { stdout: out as never }, low)).toBe(1);
    expect(out.text).toMatch(/^fail free space runDir: \/run\/mesos-cri: 0\.1 GiB free$/m);
    expect(out.text).toMatch(/^FAILED: \d+ checks, \d+ failed/m);
  });
});

describe('check: cgroup driver', () => {
  const cfg = (cgroup: Partial<Config['cgroup']>): Config => ({ ...defaults(), cgroup: { ...defaults().cgroup, ...cgroup } });
  it('names the driver in use and what kubelet must match', () => {
    expect(checkCgroupDriver(host(), cfg({}))).toMatchObject({ verdict: 'ok', detail: expect.stringContaining('cgroupfs (kubelet cgroupDriver: cgroupfs)') });
    const sock = host({ stat: (p) => (p === '/run/systemd/private' ? { mode: 0o140777, uid: 0, gid: 0, socket: true } : undefined) });
    expect(checkCgroupDriver(sock, cfg({ driver: 'systemd' }))).toMatchObject({ verdict: 'ok', detail: expect.stringContaining('pods under mesos_cri.slice') });
    expect(checkCgroupDriver(host(), cfg({ driver: 'systemd' }))).toMatchObject({ verdict: 'fail', detail: expect.stringContaining('/run/systemd/private is not a socket') });
    expect(checkCgroupDriver(sock, cfg({ driver: 'systemd', parent: '/custom' })).verdict).toBe('fail');
  });
});
