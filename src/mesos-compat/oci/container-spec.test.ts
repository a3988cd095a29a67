import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background } from '../../common/ctx';
import type { ContainerConfig, SandboxConfig } from '../launch-config';
import { DEFAULT_CAPABILITIES } from './capabilities';
import { buildContainerSpec, type ContainerSpecInput } from './container-spec';
import type { ImageConfig } from './image-config';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './paths';
import { containerConfig, imageConfig, sandboxConfig, securityContext } from './test-fixtures';

const files = { hostname: '/sb/hostname', hosts: '/sb/hosts', resolvConf: '/sb/resolv.conf', shm: '/sb/shm' };
const privateMounts = () => Promise.resolve('1 0 8:1 / / rw - ext4 /dev/sda rw\n');

describe('buildContainerSpec', () => {
  let dir: string;
  let rootfs: string;
  const input = (
    over: { config?: Partial<ContainerConfig>; image?: Partial<ImageConfig>; sandbox?: Partial<SandboxConfig>; hostNetwork?: boolean; targetPid?: number } = {},
  ): ContainerSpecInput => ({
    id: 'c1',
    config: containerConfig(over.config),
    image: imageConfig(over.image),
    rootfs,
    sandbox: { id: 'sb1', config: sandboxConfig(over.sandbox), infraPid: 4242, files, hostNetwork: over.hostNetwork ?? false },
    ...(over.targetPid !== undefined ? { targetPid: over.targetPid } : {}),
    cgroupsPath: '/mesos-cri/sb1/c1',
    oomScoreAdjFloor: 0,
    hugetlb: true,
    mountInfo: privateMounts,
  });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oci-ctr-'));
    rootfs = join(dir, 'rootfs');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
    await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\napp:x:1000:\nvideo:x:44:app\n');
    await mkdir(join(dir, 'data'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('builds a default container from the image', async () => {
    const s = await buildContainerSpec(input({ image: { entrypoint: ['/bin/sh', '-c'], cmd: ['sleep 1'], env: ['A=1'] } }), background());
    expect(s.process.args).toEqual(['/bin/sh', '-c', 'sleep 1']);
    expect(s.process.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=pod-host', 'A=1', 'HOME=/root']);
    expect(s.process.cwd).toBe('/');
    expect(s.process.user).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(s.process.terminal).toBe(false);
    expect(s.process.noNewPrivileges).toBe(false);
    expect(s.process.oomScoreAdj).toBe(0);
    expect(s.process.rlimits).toBeUndefined();
    expect(new Set(s.process.capabilities.bounding)).toEqual(new Set(DEFAULT_CAPABILITIES));
    expect(s.root).toEqual({ path: rootfs, readonly: false });
    expect(s.hostname).toBeUndefined();
    expect(s.linux.maskedPaths).toEqual(DEFAULT_MASKED_PATHS);
    expect(s.linux.readonlyPaths).toEqual(DEFAULT_READONLY_PATHS);
    expect(s.linux.seccomp).toBeUndefined();
    expect(s.linux.cgroupsPath).toBe('/mesos-cri/sb1/c1');
    expect(s.linux.resources).toEqual({ devices: [{ allow: false, access: 'rwm' }] });
    expect(s.linux.devices).toBeUndefined();
    expect(s.linux.namespaces).toEqual([
      { type: 'mount' }, { type: 'pid' },
      { type: 'ipc', path: '/proc/4242/ns/ipc' }, { type: 'uts', path: '/proc/4242/ns/uts' }, { type: 'network', path: '/proc/4242/ns/net' },
    ]);
    expect(s.mounts.map((m) => m.destination)).toEqual([
      '/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf',
    ]);
    expect(s.annotations).toEqual({
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.sandbox-id': 'sb1',
      'io.kubernetes.cri.container-name': 'ctr',
      'io.kubernetes.cri.image-name': 'busybox:latest',
      'io.kubernetes.cri.sandbox-name': 'pod',
      'io.kubernetes.cri.sandbox-namespace': 'default',
      'io.kubernetes.cri.sandbox-uid': 'pod-uid',
    });
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it('applies every CRI field', async () => {
    await writeFile(join(dir, 'seccomp.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }));
    const s = await buildContainerSpec(input({
      image: { user: 'app', workingDir: '/img', env: ['LANG=C'] },
      config: {
        command: ['/bin/echo'], args: ['hi'], workingDir: '/work', tty: true,
        envs: [['LANG', 'C.UTF-8'], ['X', 'y']],
        mounts: [{ containerPath: '/data', hostPath: join(dir, 'data'), readonly: true, propagation: 'private' }],
        devices: [{ containerPath: '/dev/mynull', hostPath: '/dev/null', permissions: 'rw' }],
        resources: {
          cpuPeriod: 100_000n, cpuQuota: 20_000n, cpuShares: 256n, memoryLimitBytes: 32n << 20n, memorySwapLimitBytes: 0n, oomScoreAdj: 900,
          cpusetCpus: '0', cpusetMems: '', hugepageLimits: [], unified: {},
        },
        security: securityContext({
          runAsUsername: 'app', runAsGroup: 44n, supplementalGroups: [3000n], readonlyRootfs: true, noNewPrivs: true,
          capabilities: { add: ['NET_ADMIN'], drop: ['MKNOD'], addAmbient: [] },
          maskedPaths: ['/proc/kcore'], readonlyPaths: [],
          seccomp: { kind: 'localhost', path: join(dir, 'seccomp.json') },
          namespaces: { network: 'pod', pid: 'pod', ipc: 'pod', targetId: '' },
        }),
      },
    }), background());
    expect(s.process.args).toEqual(['/bin/echo', 'hi']);
    expect(s.process.cwd).toBe('/work');
    expect(s.process.terminal).toBe(true);
    expect(s.process.env).toContain('LANG=C.UTF-8');
    expect(s.process.env).toContain('X=y');
    expect(s.process.env).toContain('HOME=/home/app');
    expect(s.process.user).toEqual({ uid: 1000, gid: 44, additionalGids: [44, 3000] });
    expect(s.process.noNewPrivileges).toBe(true);
    expect(s.process.oomScoreAdj).toBe(900);
    expect(s.process.capabilities.bounding).toContain('CAP_NET_ADMIN');
    expect(s.process.capabilities.bounding).not.toContain('CAP_MKNOD');
    expect(s.root.readonly).toBe(true);
    expect(s.mounts.find((m) => m.destination === '/etc/hosts')!.options).toContain('ro');
    expect(s.mounts.at(-1)).toEqual({ destination: '/data', type: 'bind', source: join(dir, 'data'), options: ['rbind', 'rprivate', 'ro'] });
    expect(s.linux.maskedPaths).toEqual(['/proc/kcore']);
    expect(s.linux.readonlyPaths).toEqual([]);
    expect(s.linux.seccomp).toEqual({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] });
    expect(s.linux.namespaces).toContainEqual({ type: 'pid', path: '/proc/4242/ns/pid' });
    expect(s.linux.resources).toEqual({
      cpu: { shares: 256, quota: 20_000, period: 100_000, cpus: '0' },
      memory: { limit: 32 << 20, swap: 32 << 20 },
      devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' }],
    });
    expect(s.linux.devices).toEqual([expect.objectContaining({ path: '/dev/mynull', type: 'c', major: 1, minor: 3 })]);
  });

  it('resolves run_as_username and clamps oom_score_adj to the floor', async () => {
    const s = await buildContainerSpec({
      ...input({ config: { security: securityContext({ runAsUsername: 'app' }), resources: undefined } }),
      oomScoreAdjFloor: 300,
    });
    expect(s.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 44] });
    expect(s.process.oomScoreAdj).toBe(300);
  });

  it('run_as_user wins over the image user', async () => {
    const s = await buildContainerSpec(input({ image: { user: 'app' }, config: { security: securityContext({ runAsUser: 0n }) } }));
    expect(s.process.user.uid).toBe(0);
    expect(s.process.env).toContain('HOME=/root');
  });

  it('run_as_username wins over run_as_user, as in containerd', async () => {
    const s = await buildContainerSpec(input({ config: { security: securityContext({ runAsUser: 0n, runAsUsername: 'app', runAsGroup: 44n }) } }));
    expect(s.process.user).toEqual({ uid: 1000, gid: 44, additionalGids: [44] });
    expect(s.process.env).toContain('HOME=/home/app');
  });

  it('runs privileged containers with everything the host has', async () => {
    const s = await buildContainerSpec(input({
      sandbox: { security: securityContext({ privileged: true }) },
      config: { security: securityContext({ privileged: true, seccomp: { kind: 'runtime-default' }, maskedPaths: ['/proc/kcore'] }) },
    }));
    expect(s.process.capabilities.bounding.length).toBeGreaterThan(DEFAULT_CAPABILITIES.length);
    expect(s.process.capabilities.bounding).toContain('CAP_SYS_ADMIN');
    expect(s.linux.seccomp).toBeUndefined();
    expect(s.linux.maskedPaths).toEqual([]);
    expect(s.linux.readonlyPaths).toEqual([]);
    expect(s.linux.resources!.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(s.linux.devices).toContainEqual(expect.objectContaining({ path: '/dev/null' }));
    expect(s.mounts.find((m) => m.destination === '/sys')!.options).toContain('rw');
  });

  it('applies RuntimeDefault seccomp to unprivileged containers', async () => {
    const s = await buildContainerSpec(input({ config: { security: securityContext({ seccomp: { kind: 'runtime-default' } }) } }));
    expect(s.linux.seccomp).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1 });
  });

  it('shares the host network without uts/net namespaces and takes the host hostname when the pod has none', async () => {
    const s = await buildContainerSpec(input({ hostNetwork: true, sandbox: { hostname: '' } }));
    expect(s.linux.namespaces.map((n) => n.type)).toEqual(['mount', 'pid', 'ipc']);
    expect(s.process.env.find((e) => e.startsWith('HOSTNAME='))).not.toBe('HOSTNAME=');
  });

  it('binds the node\'s /dev/shm into pods on the node\'s IPC namespace, as containerd', async () => {
    const hostIpc = securityContext({ namespaces: { network: 'pod', pid: 'container', ipc: 'node', targetId: '' } });
    const s = await buildContainerSpec(input({ sandbox: { security: hostIpc }, config: { security: hostIpc } }));
    expect(s.mounts.find((m) => m.destination === '/dev/shm')).toEqual({ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate', 'rw'] });
    expect(s.linux.namespaces.map((n) => n.type)).not.toContain('ipc');
  });

  it('creates image volumes inside the rootfs unless a mount covers them, never outside', async () => {
    await symlink('/', join(rootfs, 'escape'));
    await buildContainerSpec(input({
      image: { volumes: ['/var/lib/data', '/covered', '/escape/oci-volume-escape-test', '/etc/passwd'] },
      config: { mounts: [{ containerPath: '/covered', hostPath: join(dir, 'data'), readonly: false, propagation: 'private' }] },
    }));
    expect((await stat(join(rootfs, 'var/lib/data'))).isDirectory()).toBe(true);
    await expect(stat(join(rootfs, 'covered'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await stat(join(rootfs, 'oci-volume-escape-test'))).isDirectory()).toBe(true);
    await expect(stat('/oci-volume-escape-test')).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await stat(join(rootfs, 'etc/passwd'))).isFile()).toBe(true);
  });

  describe('bad input names the field and leaves nothing behind', () => {
    const cases: Array<[string, Parameters<typeof input>[0], string, string]> = [
      ['missing image', { config: { image: '' } }, 'InvalidArgument', 'image'],
      ['no command', { image: { entrypoint: [], cmd: [] } }, 'InvalidArgument', 'no command specified'],
      ['bad mount source', { config: { mounts: [{ containerPath: '/x', hostPath: '/etc/passwd/dir', readonly: false, propagation: 'private' }] } }, 'InvalidArgument', 'mounts[0].host_path'],
      ['unknown user', { config: { security: securityContext({ runAsUsername: 'ghost' }) } }, 'NotFound', 'run_as_username'],
      ['unknown image user', { image: { user: 'ghost' } }, 'NotFound', 'image config User'],
      ['group without user', { image: { user: 'app' }, config: { security: securityContext({ runAsGroup: 2000n }) } }, 'InvalidArgument', 'run_as_group'],
      ['negative uid', { config: { security: securityContext({ runAsUser: -1n }) } }, 'InvalidArgument', 'run_as_user'],
      ['bad device', { config: { devices: [{ containerPath: '/dev/x', hostPath: '/dev/nope', permissions: 'r' }] } }, 'NotFound', 'devices[0].host_path'],
      ['privileged in unprivileged pod', { config: { security: securityContext({ privileged: true }) } }, 'InvalidArgument', 'privileged'],
      ['missing target', { config: { security: securityContext({ namespaces: { network: 'pod', pid: 'target', ipc: 'pod', targetId: 'gone' } }) } }, 'NotFound', 'target_id'],
      ['missing seccomp profile', { config: { security: securityContext({ seccomp: { kind: 'localhost', path: '/no/such/profile.json' } }) } }, 'NotFound', 'seccomp'],
    ];
    for (const [name, over, code, field] of cases) {
      it(name, async () => {
        const before = await readdir(rootfs, { recursive: true });
        await expect(buildContainerSpec(input({ ...over, image: { volumes: ['/vol'], ...over?.image } }))).rejects.toMatchObject({
          code,
          message: expect.stringContaining(field),
        });
        expect(await readdir(rootfs, { recursive: true })).toEqual(before);
      });
    }
  });
});
