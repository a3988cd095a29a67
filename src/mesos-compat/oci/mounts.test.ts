import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import type { Mount } from '../launch-config';
import { clientMounts, mergeMounts, podFileMounts, systemMounts } from './mounts';
import type { OciMount } from './types';

const dests = (ms: readonly OciMount[]): string[] => ms.map((m) => m.destination);
const files = { hostname: '/sb/hostname', hosts: '/sb/hosts', resolvConf: '/sb/resolv.conf', shm: '/sb/shm' };

describe('systemMounts', () => {
  it('mounts the kernel filesystems, /sys read-only, and binds the pod shm', () => {
    const ms = systemMounts({ privileged: false, shm: '/sb/shm' });
    expect(dests(ms)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']);
    expect(ms.find((m) => m.destination === '/sys')!.options).toContain('ro');
    expect(ms.find((m) => m.destination === '/sys/fs/cgroup')!.options).toContain('ro');
    expect(ms.find((m) => m.destination === '/dev/shm')).toMatchObject({ type: 'bind', source: '/sb/shm' });
    expect(dests(ms)).not.toContain('/run');
  });

  it('uses a private tmpfs without a pod shm and writable /sys when privileged', () => {
    const ms = systemMounts({ privileged: true, shm: '' });
    expect(ms.find((m) => m.destination === '/dev/shm')).toMatchObject({ type: 'tmpfs' });
    expect(ms.find((m) => m.destination === '/sys')!.options).toContain('rw');
    expect(ms.find((m) => m.destination === '/sys/fs/cgroup')!.options).toContain('rw');
  });
});

describe('podFileMounts', () => {
  it('binds hostname, hosts and resolv.conf, read-only with a read-only rootfs', () => {
    expect(podFileMounts(files, false).map((m) => [m.destination, m.source, m.options.at(-1)])).toEqual([
      ['/etc/hostname', '/sb/hostname', 'rw'],
      ['/etc/hosts', '/sb/hosts', 'rw'],
      ['/etc/resolv.conf', '/sb/resolv.conf', 'rw'],
    ]);
    expect(podFileMounts(files, true).every((m) => m.options.includes('ro'))).toBe(true);
    expect(podFileMounts({ ...files, hosts: '' }, false).map((m) => m.destination)).toEqual(['/etc/hostname', '/etc/resolv.conf']);
  });
});

describe('mergeMounts', () => {
  const bind = (destination: string): OciMount => ({ destination, type: 'bind', source: '/src' + destination, options: ['rbind'] });
  const defaults = [...systemMounts({ privileged: false, shm: '' }), ...podFileMounts(files, false)];

  it('lets client mounts replace defaults at the same path and sorts them by depth', () => {
    const out = mergeMounts(defaults, [bind('/a/b/c'), bind('/etc/hosts'), bind('/a'), bind('/x/y'), bind('/a/b/')]);
    expect(dests(out).filter((d) => d === '/etc/hosts')).toHaveLength(1);
    expect(out.find((m) => m.destination === '/etc/hosts')!.source).toBe('/src/etc/hosts');
    expect(dests(out).slice(-5)).toEqual(['/a', '/etc/hosts', '/x/y', '/a/b/', '/a/b/c']);
  });

  it('drops every /dev default under a client /dev', () => {
    const out = mergeMounts(defaults, [bind('/dev')]);
    expect(dests(out).filter((d) => d.startsWith('/dev'))).toEqual(['/dev']);
    expect(dests(out)).toContain('/proc');
  });
});

describe('clientMounts', () => {
  let dir: string;
  const shared = () => Promise.resolve(`1 0 8:1 / / rw - ext4 /dev/sda rw\n2 1 0:5 / ${dir} rw shared:7 - tmpfs t rw\n`);
  const slave = () => Promise.resolve(`1 0 8:1 / / rw - ext4 /dev/sda rw\n2 1 0:5 / ${dir} rw master:3 - tmpfs t rw\n`);
  const priv = () => Promise.resolve(`1 0 8:1 / / rw - ext4 /dev/sda rw\n`);
  const m = (over: Partial<Mount>): Mount => ({ containerPath: '/data', hostPath: join(dir, 'data'), readonly: false, propagation: 'private', ...over });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oci-mounts-'));
    await mkdir(join(dir, 'data'));
    await symlink(join(dir, 'data'), join(dir, 'link'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('binds host paths with propagation and read-only flags, resolving symlinks', async () => {
    const out = await clientMounts([m({}), m({ containerPath: '/ro/', hostPath: join(dir, 'link'), readonly: true })], background(), priv);
    expect(out.mounts).toEqual([
      { destination: '/data', type: 'bind', source: join(dir, 'data'), options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/ro/', type: 'bind', source: join(dir, 'data'), options: ['rbind', 'rprivate', 'ro'] },
    ]);
    expect(out.rootfsPropagation).toBeUndefined();
  });

  it('sets rootfs propagation for rslave and rshared binds', async () => {
    expect((await clientMounts([m({ propagation: 'rslave' })], background(), slave)).rootfsPropagation).toBe('rslave');
    const both = await clientMounts([m({ propagation: 'rshared' }), m({ containerPath: '/b', propagation: 'rslave' })], background(), shared);
    expect(both.rootfsPropagation).toBe('rshared');
    expect(both.mounts[0]!.options).toContain('rshared');
    expect(both.mounts[1]!.options).toContain('rslave');
  });

  it('refuses propagation the host mount cannot provide', async () => {
    await expect(clientMounts([m({ propagation: 'rshared' })], background(), slave)).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('mounts[0].propagation'),
    });
    await expect(clientMounts([m({ propagation: 'rslave' })], background(), priv)).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('creates a missing host path as a directory (0755), as containerd does for kubelet hostPath volumes', async () => {
    const missing = join(dir, 'new', 'deeper');
    const r = await clientMounts([m({ hostPath: missing })], background(), priv);
    expect(r.mounts[0]!.source).toBe(missing);
    const st = await stat(missing);
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777).toBe(0o755 & ~process.umask());
  });

  it('never creates through a dangling symlink: the canary target stays absent', async () => {
    const canary = join(dir, 'canary');
    await mkdir(canary);
    await symlink(join(canary, 'target'), join(dir, 'dangling'));
    for (const hostPath of [join(dir, 'dangling'), join(dir, 'dangling', 'sub')]) {
      await expect(clientMounts([m({ hostPath })], background(), priv)).rejects.toMatchObject({
        code: 'InvalidArgument',
        message: expect.stringContaining('dangling'),
      });
    }
    expect(await readdir(canary)).toEqual([]);
    await writeFile(join(dir, 'plain-file'), 'x');
    await expect(clientMounts([m({ hostPath: join(dir, 'plain-file', 'sub') })], background(), priv)).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('mounts[0].host_path'),
    });
  });

  it('reads a relative container path from the container\'s root, as runc does', async () => {
    expect((await clientMounts([m({ containerPath: 'rel/dir' })], background(), priv)).mounts[0]!.destination).toBe('/rel/dir');
  });

  it('names the bad field', async () => {
    await expect(clientMounts([m({ hostPath: '' })], background(), priv)).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});
