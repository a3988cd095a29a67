import { describe, expect, it } from 'vitest';
import type { ContainerConfig__Output } from '../../../cri/generated/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../../../cri/generated/runtime/v1/PodSandboxConfig';
import { checkContainerBounds, checkSandboxBounds } from './bounds';

const pod = (o: Partial<PodSandboxConfig__Output> = {}): PodSandboxConfig__Output => ({
  metadata: { name: 'p', namespace: 'ns', uid: 'u', attempt: 0 },
  hostname: '',
  log_directory: '/var/log/pods/x',
  dns_config: null,
  port_mappings: [],
  labels: {},
  annotations: {},
  linux: null,
  windows: null,
  ...o,
});

const ctr = (o: Partial<ContainerConfig__Output> = {}): ContainerConfig__Output =>
  ({
    metadata: { name: 'c', attempt: 0 },
    image: { image: 'busybox' },
    command: ['sh'],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: 'c.log',
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
    ...o,
  }) as ContainerConfig__Output;

const code = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return `${(err as { code: string }).code}: ${(err as Error).message}`;
  }
};

describe('request bounds', () => {
  it('accepts what kubelet sends', () => {
    expect(code(() => checkSandboxBounds(pod({ port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 0, host_ip: '' }] })))).toBeUndefined();
    expect(code(() => checkContainerBounds(ctr({ envs: [{ key: 'A', value: Buffer.from('b') }] })))).toBeUndefined();
    // containerd takes a relative mount target as relative to the rootfs.
    expect(code(() => checkContainerBounds(ctr({ mounts: [{ container_path: 'relative/path', host_path: '/x' } as never] })))).toBeUndefined();
  });

  it('refuses each oversize or malformed field with INVALID_ARGUMENT naming it', () => {
    const big = 'x'.repeat(130 * 1024);
    const cases: Array<[() => void, RegExp]> = [
      [() => checkSandboxBounds(pod({ metadata: { name: big, namespace: '', uid: 'u', attempt: 0 } })), /metadata\.name is 133120 bytes/],
      [() => checkSandboxBounds(pod({ metadata: { name: 'a;IP=1.2.3.4', namespace: '', uid: 'u', attempt: 0 } })), /metadata\.name contains ";"/],
      [() => checkSandboxBounds(pod({ hostname: 'h'.repeat(65) })), /hostname/],
      [() => checkSandboxBounds(pod({ log_directory: 'rel' })), /log_directory "rel" is not an absolute path/],
      [() => checkSandboxBounds(pod({ port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 70000, host_ip: '' }] })), /host_port 70000/],
      [() => checkSandboxBounds(pod({ port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: 1, host_ip: 'nope' }] })), /host_ip/],
      [() => checkSandboxBounds(pod({ linux: { cgroup_parent: '', sysctls: { 'kernel.hostname': 'x' } } as never })), /kernel\.hostname/],
      [() => checkSandboxBounds(pod({ linux: { cgroup_parent: 'a/../../b', sysctls: {} } as never })), /cgroup_parent/],
      [() => checkSandboxBounds(pod({ annotations: { a: big, b: big, c: big } })), /annotations total/],
      [() => checkContainerBounds(ctr({ command: ['echo', big] })), /command and config\.args\[1\]/],
      [() => checkContainerBounds(ctr({ envs: [{ key: 'K', value: Buffer.from(big) }] })), /envs\[0\]/],
      [() => checkContainerBounds(ctr({ command: [''] })), /command\[0\] is empty/],
      [() => checkContainerBounds(ctr({ mounts: [{ container_path: '/./', host_path: '/x' } as never] })), /container_path must not be "\/"/],
      [() => checkContainerBounds(ctr({ mounts: [{ container_path: 'a/..', host_path: '/x' } as never] })), /container_path must not be "\/"/],
      [() => checkContainerBounds(ctr({ devices: [{ container_path: '/dev/a', host_path: '/dev/null', permissions: 'rr' }] })), /permissions/],
      [() => checkContainerBounds(ctr({ log_path: 'a/../../x.log' })), /log_path/],
      [() => checkContainerBounds(ctr({ linux: { resources: { cpuset_cpus: '0-', cpuset_mems: '', hugepage_limits: [], unified: {} } } as never })), /cpuset_cpus/],
      [() => checkContainerBounds(ctr({ linux: { resources: { cpuset_cpus: '', cpuset_mems: '', cpu_quota: '-2', hugepage_limits: [], unified: {} } } as never })), /cpu_quota -2/],
      [() => checkContainerBounds(ctr({ linux: { security_context: { masked_paths: ['/a'.repeat(3000)] } } as never })), /security_context\.masked_paths\[0\] is 6000 bytes/],
      [() => checkContainerBounds(ctr({ linux: { security_context: { supplemental_groups: Array(2000).fill('1') } } as never })), /supplemental_groups has 2000 entries/],
    ];
    for (const [fn, re] of cases) {
      const got = code(fn);
      expect(got).toMatch(/^InvalidArgument: /);
      expect(got).toMatch(re);
      expect(got!.length).toBeLessThan(600);
    }
  });

  it('accepts -1 for an unlimited quota and swap', () => {
    expect(code(() => checkContainerBounds(ctr({ linux: { resources: { cpuset_cpus: '0-3,5', cpuset_mems: '0', cpu_quota: '-1', memory_swap_limit_in_bytes: '-1', hugepage_limits: [], unified: {} } } as never })))).toBeUndefined();
  });
});
