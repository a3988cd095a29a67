import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import { clientDevices, hostDevices, majorMinor } from './devices';

describe('majorMinor', () => {
  it('splits st_rdev like glibc', () => {
    expect(majorMinor(0x0103n)).toEqual({ major: 1, minor: 3 });
    expect(majorMinor((0x88n << 8n) | 0x05n)).toEqual({ major: 136, minor: 5 });
    // minor 300 uses the extended bits
    expect(majorMinor((259n << 8n) | (300n & 0xffn) | ((300n & ~0xffn) << 12n))).toEqual({ major: 259, minor: 300 });
  });
});

describe('clientDevices', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oci-dev-'));
    await mkdir(join(dir, 'sub'));
    await symlink('/dev/null', join(dir, 'sub/mynull'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('maps a host device node to a container path with a cgroup allow rule', async () => {
    const out = await clientDevices([{ containerPath: '/dev/xnull', hostPath: '/dev/null', permissions: 'rw' }], background());
    expect(out.devices).toEqual([expect.objectContaining({ type: 'c', path: '/dev/xnull', major: 1, minor: 3 })]);
    expect(out.cgroup).toEqual([{ allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }]);
  });

  it('refuses a directory holding no device nodes (symlinks do not count)', async () => {
    await expect(clientDevices([{ containerPath: '/dev/mine', hostPath: join(dir, 'sub'), permissions: 'rwm' }], background())).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('not a device'),
    });
  });

  it.skipIf(process.getuid?.() !== 0)('maps every node below a directory', async () => {
    await mkdir(join(dir, 'gpu/deep'), { recursive: true });
    execFileSync('mknod', ['-m', '0660', join(dir, 'gpu/deep/card'), 'c', '1', '7']);
    const out = await clientDevices([{ containerPath: '/dev/mine', hostPath: join(dir, 'gpu'), permissions: '' }], background());
    expect(out.devices).toEqual([expect.objectContaining({ type: 'c', path: '/dev/mine/deep/card', major: 1, minor: 7, fileMode: 0o660 })]);
    expect(out.cgroup).toEqual([{ allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }]);
  });

  it('rejects missing, non-device and badly permitted devices, naming the field', async () => {
    await expect(clientDevices([{ containerPath: '/dev/x', hostPath: '/dev/no-such', permissions: 'r' }], background())).rejects.toMatchObject({
      code: 'NotFound',
      message: expect.stringContaining('devices[0].host_path'),
    });
    await expect(clientDevices([{ containerPath: '/dev/x', hostPath: '/etc/hostname', permissions: 'r' }], background())).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
    await expect(clientDevices([{ containerPath: '/dev/x', hostPath: '/dev/null', permissions: 'rwx' }], background())).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringContaining('devices[0].permissions'),
    });
    await expect(clientDevices([{ containerPath: 'x', hostPath: '/dev/null', permissions: 'r' }], background())).rejects.toMatchObject({
      message: expect.stringContaining('devices[0].container_path'),
    });
  });
});

describe('hostDevices', () => {
  it('lists host device nodes at their own paths, skipping pts and console', async () => {
    const devs = await hostDevices(background());
    expect(devs).toContainEqual(expect.objectContaining({ path: '/dev/null', type: 'c', major: 1, minor: 3 }));
    expect(devs).toContainEqual(expect.objectContaining({ path: '/dev/zero', major: 1, minor: 5 }));
    expect(devs.some((d) => d.path.startsWith('/dev/pts/') || d.path === '/dev/console')).toBe(false);
  });
});
