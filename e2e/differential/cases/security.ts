import { join } from 'node:path';
import { kubeletContainer, kubeletPod } from './kubelet';
import type { CaseSpec, GroupSpec, Kit } from './types';

/** Capabilities, users and groups, no_new_privs, read-only rootfs, masks: kubelet's container with one field changed. */

const k = (name: string, over: Parameters<typeof kubeletContainer>[2], exceptions?: string[]): CaseSpec => ({
  name,
  container: (kit: Kit) => kubeletContainer(kit, name, over),
  ...(exceptions ? { exceptions } : {}),
});

const sec = (security: Record<string, unknown>) => ({ security });
const caps = (add: string[], drop: string[] = []) => sec({ capabilities: { add_capabilities: add, drop_capabilities: drop } });

export const capabilityGroup: GroupSpec = {
  name: 'caps',
  pod: () => kubeletPod('caps'),
  cases: [
    k('kubelet-default', {}),
    k('caps-drop-all', caps([], ['ALL'])),
    k('caps-drop-all-add-net-bind', caps(['NET_BIND_SERVICE'], ['ALL'])),
    k('caps-add-net-admin-sys-time', caps(['NET_ADMIN', 'SYS_TIME'])),
    k('caps-add-all', caps(['ALL'])),
    k('caps-add-all-drop-chown', caps(['ALL'], ['CHOWN'])),
    k('caps-drop-chown-kill', caps([], ['CHOWN', 'KILL'])),
    k('caps-lowercase', caps(['net_admin'], ['mknod'])),
    k('caps-unknown-name', caps(['NOT_A_CAPABILITY'])),
    k('caps-prefixed', caps(['CAP_NET_ADMIN']), ['cap-prefixed-names']),
    k('caps-sys-resource', caps(['SYS_RESOURCE'])),
    k('caps-ambient', { ...sec({ run_as_user: { value: 1000 }, capabilities: { add_capabilities: ['NET_BIND_SERVICE'], drop_capabilities: [], add_ambient_capabilities: ['NET_BIND_SERVICE'] } }) }, ['ambient-capabilities']),
    k('nnp', sec({ no_new_privs: true })),
    k('nnp-non-root-drop-all', sec({ no_new_privs: true, run_as_user: { value: 1000 }, capabilities: { drop_capabilities: ['ALL'] } })),
    k('readonly-rootfs', sec({ readonly_rootfs: true })),
    k('unmasked-proc', sec({ masked_paths: [], readonly_paths: [] })),
    k('masks-kubelet-1.26', sec({
      masked_paths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'],
      readonly_paths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    })),
    k('masks-custom', sec({ masked_paths: ['/proc/uptime', '/etc/hostname'], readonly_paths: ['/proc/sys/kernel', '/tmp'] })),
  ],
};

export const userGroup: GroupSpec = {
  name: 'users',
  pod: () => kubeletPod('users'),
  cases: [
    k('user-run-as-1000', sec({ run_as_user: { value: 1000 } })),
    k('user-run-as-1000-group-3000', sec({ run_as_user: { value: 1000 }, run_as_group: { value: 3000 } })),
    k('user-supplemental', sec({ run_as_user: { value: 1000 }, supplemental_groups: [2000, 3000] })),
    k('user-root-supplemental', sec({ supplemental_groups: [4000] })),
    k('user-group-without-user', sec({ run_as_group: { value: 2000 } }), ['unclassified-error']),
    k('user-username-and-uid', { image: 'users', ...sec({ run_as_user: { value: 0 }, run_as_username: 'app' }) }),
    k('user-username', { image: 'users', ...sec({ run_as_username: 'app' }) }),
    k('user-username-group', { image: 'users', ...sec({ run_as_username: 'other', run_as_group: { value: 29 } }) }),
    k('user-username-unknown', { image: 'users', ...sec({ run_as_username: 'ghost' }) }, ['unclassified-not-found']),
    k('user-uid-in-passwd', { image: 'users', ...sec({ run_as_user: { value: 1001 } }) }),
    k('user-uid-not-in-passwd', { image: 'users', ...sec({ run_as_user: { value: 4242 } }) }),
    k('user-root-image-groups', { image: 'users' }),
    k('user-image-app', { image: 'user-app' }, ['image-user-groups']),
    k('user-image-app-run-as-0', { image: 'user-app', ...sec({ run_as_user: { value: 0 } }) }),
    k('user-image-app-group', { image: 'user-app', ...sec({ run_as_group: { value: 2000 } }) }, ['unclassified-error']),
    k('user-image-ids', { image: 'user-ids' }, ['image-user-groups']),
    k('user-image-names', { image: 'user-names' }, ['image-user-groups']),
    k('user-image-unknown-uid', { image: 'user-unknown' }, ['image-user-groups']),
    k('user-image-app-run-as-1001', { image: 'user-app', ...sec({ run_as_user: { value: 1001 } }) }),
    k('user-nohome', { image: 'users', ...sec({ run_as_user: { value: 1002 } }) }),
  ],
};

/** Seccomp profiles: kubelet's field, the deprecated path, Localhost files in OCI and Docker format. */
export const seccompGroup: GroupSpec = {
  name: 'seccomp',
  pod: () => kubeletPod('seccomp'),
  cases: [
    k('seccomp-runtime-default', sec({ seccomp: { profile_type: 'RuntimeDefault' } }), ['io-uring']),
    k('seccomp-runtime-default-non-root', sec({ seccomp: { profile_type: 'RuntimeDefault' }, run_as_user: { value: 1000 }, no_new_privs: true }), ['io-uring']),
    k('seccomp-runtime-default-sys-admin', sec({ seccomp: { profile_type: 'RuntimeDefault' }, capabilities: { add_capabilities: ['SYS_ADMIN', 'SYS_PTRACE'] } }), ['io-uring']),
    {
      name: 'seccomp-localhost-oci',
      container: (kit) => kubeletContainer(kit, 'seccomp-localhost-oci', sec({ seccomp: { profile_type: 'Localhost', localhost_ref: join(kit.hostDir, 'seccomp', 'oci.json') } })),
    },
    {
      name: 'seccomp-localhost-prefixed-ref',
      container: (kit) => kubeletContainer(kit, 'seccomp-localhost-prefixed-ref', sec({ seccomp: { profile_type: 'Localhost', localhost_ref: `localhost/${join(kit.hostDir, 'seccomp', 'oci.json')}` } })),
    },
    {
      name: 'seccomp-localhost-docker-conditions',
      container: (kit) => kubeletContainer(kit, 'seccomp-localhost-docker-conditions', sec({ seccomp: { profile_type: 'Localhost', localhost_ref: join(kit.hostDir, 'seccomp', 'docker.json') } })),
      exceptions: ['docker-seccomp-conditions'],
    },
    {
      name: 'seccomp-localhost-missing',
      container: (kit) => kubeletContainer(kit, 'seccomp-localhost-missing', sec({ seccomp: { profile_type: 'Localhost', localhost_ref: join(kit.hostDir, 'seccomp', 'missing.json') } })),
      exceptions: ['unclassified-not-found'],
    },
    k('seccomp-runtime-default-with-ref', sec({ seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '/some/profile.json' } }), ['unclassified-error']),
    k('seccomp-unconfined-with-ref', sec({ seccomp: { profile_type: 'Unconfined', localhost_ref: '/some/profile.json' } }), ['unclassified-error']),
    k('seccomp-legacy-runtime-default', sec({ seccomp: null, seccomp_profile_path: 'runtime/default' }), ['io-uring']),
    k('seccomp-legacy-docker-default', sec({ seccomp: null, seccomp_profile_path: 'docker/default' }), ['io-uring']),
    k('seccomp-legacy-unconfined', sec({ seccomp: null, seccomp_profile_path: 'unconfined' })),
    {
      name: 'seccomp-legacy-localhost',
      container: (kit) => kubeletContainer(kit, 'seccomp-legacy-localhost', sec({ seccomp: null, seccomp_profile_path: `localhost/${join(kit.hostDir, 'seccomp', 'oci.json')}` })),
    },
    k('seccomp-legacy-invalid', sec({ seccomp: null, seccomp_profile_path: 'not-a-profile' }), ['unclassified-error']),
    k('seccomp-none', sec({ seccomp: null })),
  ],
};
