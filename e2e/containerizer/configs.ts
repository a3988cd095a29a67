import type { ContainerConfig, SandboxConfig, SecurityContext } from '../../src/mesos-compat/config';

export function security(over: Partial<SecurityContext> = {}): SecurityContext {
  return {
    privileged: false,
    namespaces: { network: 'node', pid: 'container', ipc: 'pod', targetId: '' },
    runAsUsername: '',
    supplementalGroups: [],
    readonlyRootfs: false,
    noNewPrivs: false,
    capabilities: { add: [], drop: [], addAmbient: [] },
    seccomp: { kind: 'unconfined' },
    ...over,
  };
}

export function sandboxConfig(name: string, logDirectory: string, over: Partial<SandboxConfig> = {}): SandboxConfig {
  return {
    name,
    namespace: 'default',
    uid: `uid-${name}`,
    attempt: 0,
    hostname: name,
    logDirectory,
    portMappings: [],
    labels: { app: name },
    annotations: {},
    cgroupParent: '',
    sysctls: {},
    security: security(),
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
