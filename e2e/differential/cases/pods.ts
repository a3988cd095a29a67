import { kubeletContainer, kubeletPod, plainContainer } from './kubelet';
import type { CaseSpec, GroupSpec, Kit } from './types';

/** Namespaces, privileged pods, pod-level settings, and requests as crictl users write them. */

const k = (name: string, over: Parameters<typeof kubeletContainer>[2] = {}, exceptions?: string[]): CaseSpec => ({
  name,
  container: (kit: Kit) => kubeletContainer(kit, name, over),
  ...(exceptions ? { exceptions } : {}),
});
const ns = (namespace_options: Record<string, unknown>, more: Record<string, unknown> = {}) => ({ security: { namespace_options, ...more } });

export const namespaceGroup: GroupSpec = {
  name: 'namespaces',
  pod: () => kubeletPod('namespaces'),
  sleeper: true,
  cases: [
    k('ns-pid-pod', ns({ network: 'POD', pid: 'POD', ipc: 'POD' })),
    k('ns-pid-node-in-pod', ns({ network: 'POD', pid: 'NODE', ipc: 'POD' })),
    k('ns-ipc-node-in-pod', ns({ network: 'POD', pid: 'CONTAINER', ipc: 'NODE' }), ['shm-follows-pod-ipc']),
    k('ns-network-node-in-pod', ns({ network: 'NODE', pid: 'CONTAINER', ipc: 'POD' })),
    k('ns-ipc-container', ns({ network: 'POD', pid: 'CONTAINER', ipc: 'CONTAINER' })),
    k('ns-pid-target', ns({ network: 'POD', pid: 'TARGET', ipc: 'POD', target_id: '<sleeper>' })),
    k('ns-pid-target-missing', ns({ network: 'POD', pid: 'TARGET', ipc: 'POD', target_id: 'no-such-container' })),
  ],
};

const hostPod = (name: string, options: Record<string, string>, extra: { hostname?: boolean } = {}) => (): Record<string, unknown> => {
  const pod = kubeletPod(name, { hostNetwork: options.network === 'NODE', linux: { security_context: { namespace_options: options } } });
  return extra.hostname ? { ...pod, hostname: name } : pod;
};

export const hostNetworkGroup: GroupSpec = {
  name: 'host-network',
  pod: hostPod('host-network', { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' }),
  cases: [k('hostnet-default', ns({ network: 'NODE', pid: 'CONTAINER', ipc: 'POD' })), k('hostnet-container-pod-ns', ns({ network: 'POD', pid: 'CONTAINER', ipc: 'POD' }))],
};

export const hostNetworkHostnameGroup: GroupSpec = {
  name: 'host-network-hostname',
  pod: hostPod('host-network-hostname', { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' }, { hostname: true }),
  podExceptions: ['unclassified-error'],
  cases: [k('hostnet-with-hostname', ns({ network: 'NODE', pid: 'CONTAINER', ipc: 'POD' }), ['unclassified-error'])],
};

export const hostPidGroup: GroupSpec = {
  name: 'host-pid',
  pod: hostPod('host-pid', { network: 'POD', pid: 'NODE', ipc: 'POD' }),
  cases: [k('hostpid-node', ns({ network: 'POD', pid: 'NODE', ipc: 'POD' })), k('hostpid-container', ns({ network: 'POD', pid: 'CONTAINER', ipc: 'POD' }))],
};

export const hostIpcGroup: GroupSpec = {
  name: 'host-ipc',
  pod: hostPod('host-ipc', { network: 'POD', pid: 'CONTAINER', ipc: 'NODE' }),
  cases: [k('hostipc-node', ns({ network: 'POD', pid: 'CONTAINER', ipc: 'NODE' })), k('hostipc-container-pod', ns({ network: 'POD', pid: 'CONTAINER', ipc: 'POD' }), ['shm-follows-pod-ipc'])],
};

export const sharedPidGroup: GroupSpec = {
  name: 'shared-pid',
  pod: hostPod('shared-pid', { network: 'POD', pid: 'POD', ipc: 'POD' }),
  cases: [k('sharedpid-pod', ns({ network: 'POD', pid: 'POD', ipc: 'POD' })), k('sharedpid-container', ns({ network: 'POD', pid: 'CONTAINER', ipc: 'POD' }))],
};

export const allHostGroup: GroupSpec = {
  name: 'all-host',
  pod: hostPod('all-host', { network: 'NODE', pid: 'NODE', ipc: 'NODE' }),
  cases: [k('allhost-default', ns({ network: 'NODE', pid: 'NODE', ipc: 'NODE' }))],
};

const privileged = { privileged: true };
export const privilegedGroup: GroupSpec = {
  name: 'privileged',
  pod: () => kubeletPod('privileged', { linux: { security_context: privileged } }),
  cases: [
    k('priv-container', { security: { privileged: true, masked_paths: [], readonly_paths: [] } }, ['privileged-sysfs']),
    k('priv-runtime-default', { security: { privileged: true, masked_paths: [], readonly_paths: [], seccomp: { profile_type: 'RuntimeDefault' } } }, ['privileged-sysfs']),
    k('priv-readonly-rootfs', { security: { privileged: true, masked_paths: [], readonly_paths: [], readonly_rootfs: true } }, ['privileged-sysfs']),
    k('priv-drop-caps', { security: { privileged: true, masked_paths: [], readonly_paths: [], capabilities: { drop_capabilities: ['ALL'] } } }, ['privileged-sysfs']),
  ],
};

/**
 * An unprivileged container alone in a privileged pod: sysfs superblocks are
 * per network namespace, and whichever container mounts the pod's first
 * decides whether it is read-only underneath, so it gets a pod of its own.
 */
export const privilegedPodGroup: GroupSpec = {
  name: 'privileged-pod',
  pod: () => kubeletPod('privileged-pod', { linux: { security_context: privileged } }),
  cases: [k('priv-pod-unprivileged-container', {})],
};

export const unprivilegedPodGroup: GroupSpec = {
  name: 'privileged-denied',
  pod: () => kubeletPod('privileged-denied'),
  cases: [k('priv-in-unprivileged-pod', { security: { privileged: true } }, ['unclassified-error'])],
};

export const podSettingsGroup: GroupSpec = {
  name: 'pod-settings',
  pod: () =>
    kubeletPod('pod-settings', {
      linux: {
        sysctls: { 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647' },
        security_context: { run_as_user: { value: 1000 }, run_as_group: { value: 3000 }, supplemental_groups: [2000], seccomp: { profile_type: 'RuntimeDefault' } },
      },
    }),
  cases: [k('pod-sysctls-and-ids', { security: { run_as_user: { value: 1000 }, run_as_group: { value: 3000 }, supplemental_groups: [2000] } })],
};

export const podUnsafeSysctlGroup: GroupSpec = {
  name: 'pod-unsafe-sysctl',
  pod: () => kubeletPod('pod-unsafe-sysctl', { linux: { sysctls: { 'kernel.pid_max': '65536' } } }),
  podExceptions: ['unclassified-error'],
  cases: [k('pod-sysctl-not-namespaced', {}, ['unclassified-error'])],
};

export const podNoDnsGroup: GroupSpec = {
  name: 'pod-no-dns',
  pod: () => {
    const pod = kubeletPod('pod-no-dns');
    delete pod.dns_config;
    return pod;
  },
  cases: [k('pod-no-dns-config')],
};

export const podGroupOnlyGroup: GroupSpec = {
  name: 'pod-group-only',
  pod: () => kubeletPod('pod-group-only', { linux: { security_context: { run_as_group: { value: 3000 } } } }),
  podExceptions: ['unclassified-error'],
  cases: [k('pod-run-as-group-only', {}, ['unclassified-error'])],
};

export const podSeccompRefGroup: GroupSpec = {
  name: 'pod-seccomp-ref',
  pod: () => kubeletPod('pod-seccomp-ref', { linux: { security_context: { seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '/x.json' } } } }),
  podExceptions: ['unclassified-error'],
  cases: [k('pod-seccomp-runtime-default-with-ref', {}, ['unclassified-error'])],
};

/** What a crictl-style pod shows: no kubelet /etc/hosts, and no resources at all. */
const PLAIN = ['runtime-hosts-file', 'oom-unset'];

/** Requests as an operator writes them for crictl: only what is needed, no kubelet lists. */
export const crictlGroup: GroupSpec = {
  name: 'crictl-style',
  pod: () => ({ metadata: { name: 'crictl-style', namespace: 'diff', uid: 'crictl-style-uid', attempt: 0 }, hostname: 'crictl-style' }),
  cases: [
    { name: 'plain-default', container: (kit) => plainContainer(kit, 'plain-default'), exceptions: PLAIN },
    { name: 'plain-tty', container: (kit) => plainContainer(kit, 'plain-tty', { tty: true }), exceptions: [...PLAIN, 'tty-log-cr'] },
    { name: 'plain-group-only', container: (kit) => plainContainer(kit, 'plain-group-only', { linux: { security_context: { run_as_group: { value: 2000 } } } }), exceptions: ['unclassified-error'] },
    { name: 'plain-user', container: (kit) => plainContainer(kit, 'plain-user', { linux: { security_context: { run_as_user: { value: 65534 } } } }), exceptions: PLAIN },
    {
      name: 'plain-hugepages',
      container: (kit) => plainContainer(kit, 'plain-hugepages', { linux: { resources: { hugepage_limits: [{ page_size: '2MB', limit: 0 }] } } }),
      exceptions: ['runtime-hosts-file'],
    },
    { name: 'plain-env', container: (kit) => plainContainer(kit, 'plain-env', { envs: [{ key: 'A', value: '1' }] }), exceptions: PLAIN },
    { name: 'plain-no-log-path', container: (kit) => ({ ...plainContainer(kit, 'plain-no-log-path'), log_path: '' }) },
  ],
};
