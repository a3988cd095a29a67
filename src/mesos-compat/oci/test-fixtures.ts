import type { ContainerConfig, SandboxConfig, SecurityContext } from '../launch-config';
import type { ImageConfig } from './image-config';

/**
 * Default-valued domain configs for tests (here and in e2e), shaped like what
 * the shim produces for a minimal CRI request. Override fields by spreading.
 */
export function securityContext(over: Partial<SecurityContext> = {}): SecurityContext {
  return {
    privileged: false,
    namespaces: { network: 'pod', pid: 'container', ipc: 'pod', targetId: '' },
    runAsUsername: '',
    supplementalGroups: [],
    readonlyRootfs: false,
    noNewPrivs: false,
    capabilities: { add: [], drop: [], addAmbient: [] },
    seccomp: { kind: 'unconfined' },
    ...over,
  };
}

export function sandboxConfig(over: Partial<SandboxConfig> = {}): SandboxConfig {
  return {
    name: 'pod',
    namespace: 'default',
    uid: 'pod-uid',
    attempt: 0,
    hostname: 'pod-host',
    logDirectory: '/var/log/pods/default_pod_pod-uid',
    portMappings: [],
    labels: {},
    annotations: {},
    cgroupParent: '',
    sysctls: {},
    security: securityContext(),
    runtimeHandler: '',
    ...over,
  };
}

export function containerConfig(over: Partial<ContainerConfig> = {}): ContainerConfig {
  return {
    name: 'ctr',
    attempt: 0,
    image: 'busybox:latest',
    command: [],
    args: [],
    workingDir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    logPath: 'ctr/0.log',
    stdin: false,
    stdinOnce: false,
    tty: false,
    security: securityContext(),
    stopSignal: '',
    ...over,
  };
}

export function imageConfig(over: Partial<ImageConfig> = {}): ImageConfig {
  return {
    user: '',
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    entrypoint: [],
    cmd: ['sh'],
    workingDir: '',
    volumes: [],
    stopSignal: '',
    labels: {},
    exposedPorts: [],
    ...over,
  };
}
