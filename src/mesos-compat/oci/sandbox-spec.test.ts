import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './paths';
import { buildSandboxSpec, INFRA_PATH, type SandboxSpecInput } from './sandbox-spec';
import { sandboxConfig, securityContext } from './test-fixtures';

const files = { hostname: '/sb/hostname', hosts: '/sb/hosts', resolvConf: '/sb/resolv.conf', shm: '/sb/shm' };
const input = (over: Partial<SandboxSpecInput> = {}): SandboxSpecInput => ({
  id: 'sb1',
  config: sandboxConfig(),
  rootfs: '/sb/rootfs',
  infraPath: '/usr/bin/catatonit',
  netnsPath: '/run/netns/cni-1',
  files,
  cgroupsPath: '/mesos-cri/sb1',
  oomScoreAdjFloor: 0,
  ...over,
});

describe('buildSandboxSpec', () => {
  it('runs catatonit -P from a read-only root, bind-mounted read-only', () => {
    const s = buildSandboxSpec(input());
    expect(s.ociVersion).toBe('1.0.2');
    expect(s.process.args).toEqual([INFRA_PATH, '-P']);
    expect(s.root).toEqual({ path: '/sb/rootfs', readonly: true });
    expect(s.mounts).toContainEqual({ destination: INFRA_PATH, type: 'bind', source: '/usr/bin/catatonit', options: ['bind', 'ro', 'nosuid', 'nodev'] });
    expect(s.mounts.find((m) => m.destination === '/dev/shm')).toMatchObject({ type: 'bind', source: '/sb/shm' });
    expect(s.process.noNewPrivileges).toBe(true);
    expect(s.process.user).toEqual({ uid: 65535, gid: 65535, additionalGids: [65535] });
  });

  it('sets the hostname, pod namespaces, cgroup and annotations', () => {
    const s = buildSandboxSpec(input());
    expect(s.hostname).toBe('pod-host');
    expect(s.linux.namespaces).toContainEqual({ type: 'network', path: '/run/netns/cni-1' });
    expect(s.linux.namespaces.map((n) => n.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(s.linux.cgroupsPath).toBe('/mesos-cri/sb1');
    // The pod-level cgroup limits nothing its containers need (see sandbox-spec.ts).
    expect(s.linux.resources).toEqual({ devices: [{ allow: true, access: 'rwm' }] });
    expect(s.annotations).toMatchObject({
      'io.kubernetes.cri.container-type': 'sandbox',
      'io.kubernetes.cri.sandbox-id': 'sb1',
      'io.kubernetes.cri.sandbox-name': 'pod',
      'io.kubernetes.cri.sandbox-namespace': 'default',
      'io.kubernetes.cri.sandbox-uid': 'pod-uid',
    });
  });

  it('clamps the infra oom_score_adj to the floor', () => {
    expect(buildSandboxSpec(input()).process.oomScoreAdj).toBe(0);
    expect(buildSandboxSpec(input({ oomScoreAdjFloor: -1000 })).process.oomScoreAdj).toBe(-998);
  });

  it('uses the host network without net or uts namespace and without a hostname', () => {
    const s = buildSandboxSpec(input({
      netnsPath: undefined,
      config: sandboxConfig({ hostname: '', security: securityContext({ namespaces: { network: 'node', pid: 'node', ipc: 'pod', targetId: '' } }) }),
    }));
    expect(s.hostname).toBeUndefined();
    expect(s.linux.namespaces.map((n) => n.type).sort()).toEqual(['ipc', 'mount']);
  });

  it('refuses run_as_group without run_as_user, as api.proto says and containerd does', () => {
    expect(() => buildSandboxSpec(input({ config: sandboxConfig({ security: securityContext({ runAsGroup: 3000n }) }) }))).toThrow(
      expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining('run_as_group') }),
    );
  });

  it('refuses a hostname for a host-network pod, as containerd (runc) does', () => {
    expect(() => buildSandboxSpec(input({
      netnsPath: undefined,
      config: sandboxConfig({ hostname: 'mine', security: securityContext({ namespaces: { network: 'node', pid: 'pod', ipc: 'pod', targetId: '' } }) }),
    }))).toThrow(expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining('hostname') }));
  });

  it('applies sysctls, run-as ids and default masked paths', () => {
    const s = buildSandboxSpec(input({
      config: sandboxConfig({
        sysctls: { 'net.ipv4.ip_forward': '1' },
        security: securityContext({ runAsUser: 0n, supplementalGroups: [5n] }),
      }),
    }));
    expect(s.linux.sysctl).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(s.process.user).toEqual({ uid: 0, gid: 0, additionalGids: [0, 5] });
    expect(s.linux.maskedPaths).toEqual(DEFAULT_MASKED_PATHS);
    expect(s.linux.readonlyPaths).toEqual(DEFAULT_READONLY_PATHS);
    expect(s.linux.seccomp).toBeUndefined();
  });

  it('rejects out-of-range ids', () => {
    expect(() => buildSandboxSpec(input({ config: sandboxConfig({ security: securityContext({ runAsUser: -1n }) }) }))).toThrow(
      expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining('run_as_user') }),
    );
  });

  describe('seccomp', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'oci-sb-'));
      await writeFile(join(dir, 'p.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_LOG' }));
    });
    afterAll(async () => rm(dir, { recursive: true, force: true }));

    it('applies RuntimeDefault and Localhost profiles, not when privileged', () => {
      const sc = (over = {}) => sandboxConfig({ security: securityContext(over) });
      expect(buildSandboxSpec(input({ config: sc({ seccomp: { kind: 'runtime-default' } }) })).linux.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
      expect(buildSandboxSpec(input({ config: sc({ seccomp: { kind: 'localhost', path: join(dir, 'p.json') } }) })).linux.seccomp?.defaultAction).toBe('SCMP_ACT_LOG');
      expect(() => buildSandboxSpec(input({ config: sc({ seccomp: { kind: 'localhost', path: join(dir, 'nope.json') } }) }))).toThrow(
        expect.objectContaining({ code: 'NotFound' }),
      );
      const priv = buildSandboxSpec(input({ config: sc({ privileged: true, seccomp: { kind: 'runtime-default' } }) }));
      expect(priv.linux.seccomp).toBeUndefined();
      expect(priv.linux.maskedPaths).toEqual([]);
    });
  });

  it('serialises to JSON', () => {
    const s = buildSandboxSpec(input());
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });
});
