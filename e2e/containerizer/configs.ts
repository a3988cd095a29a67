import type { ContainerConfig, SandboxConfig, SecurityContext } from '../../src/mesos-compat/launch-config';
import { securityContext } from '../../src/mesos-compat/oci/test-fixtures';

/** Host network by default: these tests run without a CNI config. */
export const security = (over: Partial<SecurityContext> = {}): SecurityContext =>
  securityContext({ namespaces: { network: 'node', pid: 'container', ipc: 'pod', targetId: '' }, ...over });

export function sandboxConfig(name: string, logDirectory: string, over: Partial<SandboxConfig> = {}): SandboxConfig {
  const sec = over.security ?? security();
  return {
    name,
    namespace: 'default',
    uid: `uid-${name}`,
    attempt: 0,
    // A host-network pod keeps the node's hostname: kubelet sends none, and a runtime refuses one.
    hostname: sec.namespaces.network === 'node' ? '' : name,
    logDirectory,
    portMappings: [],
    labels: { app: name },
    annotations: {},
    cgroupParent: '',
    sysctls: {},
    security: sec,
    runtimeHandler: '',
    ...over,
  };
}

export function containerConfig(name: string, command: string[], over: Partial<ContainerConfig> = {}): ContainerConfig {
  return {
    name,
    attempt: 0,
    image: 'busybox',
    command,
    args: [],
    workingDir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    logPath: `${name}/0.log`,
    stdin: false,
    stdinOnce: false,
    tty: false,
    security: security(),
    stopSignal: '',
    ...over,
  };
}
