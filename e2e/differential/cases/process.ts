import { join } from 'node:path';
import { kubeletContainer, kubeletPod } from './kubelet';
import type { CaseSpec, GroupSpec, Kit } from './types';

/** Resources, process fields (command, env, cwd, tty, stdin) and image names. */

const k = (name: string, over: Parameters<typeof kubeletContainer>[2] = {}, exceptions?: string[]): CaseSpec => ({
  name,
  container: (kit: Kit) => kubeletContainer(kit, name, over),
  ...(exceptions ? { exceptions } : {}),
});

const res = (resources: Record<string, unknown>) => ({ resources });
const MiB = 1 << 20;

export const resourceGroup: GroupSpec = {
  name: 'resources',
  pod: () => kubeletPod('resources'),
  cases: [
    k('res-burstable', res({ cpu_shares: 512, cpu_quota: 50000, memory_limit_in_bytes: 128 * MiB, oom_score_adj: 968 })),
    k('res-guaranteed', res({ cpu_shares: 1024, cpu_quota: 100000, memory_limit_in_bytes: 256 * MiB, oom_score_adj: -997 })),
    k('res-hugepage-nonzero', res({ hugepage_limits: [{ page_size: '2MB', limit: 4 * MiB }] })),
    k('res-hugepage-none', res({ hugepage_limits: [] })),
    k('res-memory-swap', res({ memory_limit_in_bytes: 64 * MiB, memory_swap_limit_in_bytes: 128 * MiB })),
    k('res-memory-swap-unlimited', res({ memory_limit_in_bytes: 64 * MiB, memory_swap_limit_in_bytes: -1 })),
    k('res-cpuset', res({ cpuset_cpus: '0', cpuset_mems: '0' })),
    k('res-cpu-quota-only', res({ cpu_quota: 20000 })),
    k('res-cpu-period-only', res({ cpu_period: 50000, cpu_quota: 25000 })),
    k('res-oom-min', res({ oom_score_adj: -1000 })),
    k('res-oom-zero', res({ oom_score_adj: 0 })),
    k('res-unified-on-v1', res({ unified: { 'memory.high': '1000000' } })),
    k('res-none', { extra: { linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' }, masked_paths: [], readonly_paths: [] } } } }, ['oom-unset']),
  ],
};

export const processGroup: GroupSpec = {
  name: 'process',
  pod: () => kubeletPod('process'),
  cases: [
    k('proc-command-args', { command: ['/probe'], args: ['a', 'b c', ''] }),
    k('proc-args-only', { args: ['only-args'] }),
    k('proc-entrypoint-image', { image: 'entrypoint' }),
    k('proc-entrypoint-args', { image: 'entrypoint', args: ['x', 'y'] }),
    k('proc-entrypoint-command', { image: 'entrypoint', command: ['/probe', 'cmd'] }),
    k('proc-env-special', { envs: [{ key: 'EMPTY', value: '' }, { key: 'EQ', value: 'a=b=c' }, { key: 'SPACE', value: ' x y ' }, { key: 'UNI', value: 'h\u00e9' }] }),
    k('proc-env-override-path', { envs: [{ key: 'PATH', value: '/only/here' }, { key: 'HOSTNAME', value: 'mine' }, { key: 'HOME', value: '/h' }] }),
    k('proc-env-duplicate', { envs: [{ key: 'DUP', value: '1' }, { key: 'DUP', value: '2' }] }),
    k('proc-image-env', { image: 'env' }),
    k('proc-image-env-override', { image: 'env', envs: [{ key: 'FROM_IMAGE', value: 'client' }, { key: 'TERM', value: 'dumb' }] }),
    k('proc-working-dir', { extra: { working_dir: '/tmp' } }),
    k('proc-working-dir-missing', { extra: { working_dir: '/does/not/exist' } }),
    k('proc-tty', { extra: { tty: true } }, ['tty-log-cr']),
    k('proc-tty-stdin', { extra: { tty: true, stdin: true } }, ['tty-log-cr']),
    k('proc-tty-term-env', { extra: { tty: true }, envs: [{ key: 'TERM', value: 'screen' }] }, ['tty-log-cr']),
    k('proc-tty-image-env', { image: 'env', extra: { tty: true } }, ['tty-log-cr']),
    k('proc-stdin-once', { extra: { stdin: true, stdin_once: true } }),
  ],
};

export const imageGroup: GroupSpec = {
  name: 'images',
  pod: () => kubeletPod('images'),
  cases: [
    { name: 'image-by-id', container: (kit) => kubeletContainer(kit, 'image-by-id', { image: kit.images.probeId }) },
    { name: 'image-by-tag', container: (kit) => kubeletContainer(kit, 'image-by-tag', { image: kit.images.refs.probe }) },
    { name: 'image-by-alias-tag', container: (kit) => kubeletContainer(kit, 'image-by-alias-tag', { image: kit.images.probeAlias }) },
    { name: 'image-by-digest', container: (kit) => kubeletContainer(kit, 'image-by-digest', { image: kit.images.probeDigestRef }) },
    { name: 'image-short-id', container: (kit) => kubeletContainer(kit, 'image-short-id', { image: kit.images.probeId.slice('sha256:'.length, 'sha256:'.length + 12) }) },
    { name: 'image-not-pulled', container: (kit) => kubeletContainer(kit, 'image-not-pulled', { image: `${kit.images.refs.probe.split('/')[0]}/diff/never-pushed:1` }) },
    { name: 'image-empty', container: (kit) => ({ ...kubeletContainer(kit, 'image-empty'), image: { image: '' } }), exceptions: ['unclassified-error'] },
  ],
};

/** hostPath mounts the way kubelet passes volumes, with their edge cases. */
export const mountGroup: GroupSpec = {
  name: 'mounts',
  pod: () => kubeletPod('mounts'),
  cases: [
    m('mount-dir-rw', (h) => [bind('/data', join(h, 'data'))]),
    m('mount-dir-ro', (h) => [bind('/data', join(h, 'data'), true)]),
    m('mount-file', (h) => [bind('/etc/extra.conf', join(h, 'file.txt'), true)]),
    m('mount-missing-created', (h) => [bind('/created', join(h, 'created', '<runtime>', 'a', 'b'))]),
    m('mount-symlink-source', (h) => [bind('/linked', join(h, 'link-to-data'))]),
    m('mount-dangling-symlink', (h) => [bind('/dangling', join(h, 'dangling'))], ['unclassified-error']),
    m('mount-under-file', (h) => [bind('/under', join(h, 'file.txt', 'sub'))], ['unclassified-error']),
    m('mount-nested-order', (h) => [bind('/data/inner', join(h, 'data2')), bind('/data', join(h, 'data'))]),
    m('mount-over-etc-resolv', (h) => [bind('/etc/resolv.conf', join(h, 'file.txt'), true)]),
    m('mount-private-propagation-slave', (h) => [bind('/data', join(h, 'data'), false, 'PROPAGATION_HOST_TO_CONTAINER')], ['unclassified-error']),
    m('mount-shared-host-to-container', (h) => [bind('/shared', join(h, 'shared'), false, 'PROPAGATION_HOST_TO_CONTAINER')]),
    m('mount-shared-bidirectional', (h) => [bind('/shared', join(h, 'shared'), false, 'PROPAGATION_BIDIRECTIONAL')]),
    m('mount-relative-container-path', (h) => [bind('relative/path', join(h, 'data'))]),
    m('mount-readonly-rootfs-with-rw-volume', (h) => [bind('/data', join(h, 'data'))], undefined, { readonly_rootfs: true }),
  ],
};

function bind(container_path: string, host_path: string, readonly = false, propagation = 'PROPAGATION_PRIVATE'): Record<string, unknown> {
  return { container_path, host_path, readonly, selinux_relabel: false, propagation };
}

function m(name: string, mounts: (hostDir: string) => Array<Record<string, unknown>>, exceptions?: string[], security?: Record<string, unknown>): CaseSpec {
  return {
    name,
    container: (kit) => kubeletContainer(kit, name, { mounts: mounts(kit.hostDir), ...(security ? { security } : {}) }),
    ...(exceptions ? { exceptions } : {}),
  };
}

/** Image VOLUMEs: one with content, one owned by a user, one the image lacks. */
export const volumeGroup: GroupSpec = {
  name: 'volumes',
  pod: () => kubeletPod('volumes'),
  cases: [
    k('volume-image', { image: 'volumes' }, ['image-volumes-in-rootfs']),
    k('volume-image-readonly-rootfs', { image: 'volumes', security: { readonly_rootfs: true } }, ['image-volumes-in-rootfs']),
    {
      name: 'volume-image-covered-by-mount',
      container: (kit) => kubeletContainer(kit, 'volume-image-covered-by-mount', { image: 'volumes', mounts: [bind('/vol', join(kit.hostDir, 'data2'))] }),
      exceptions: ['image-volumes-in-rootfs'],
    },
    k('volume-image-non-root', { image: 'volumes', security: { run_as_user: { value: 1000 } } }, ['image-volumes-in-rootfs']),
  ],
};

/** Devices as kubelet passes device plugins' and the edge cases of their validation. */
export const deviceGroup: GroupSpec = {
  name: 'devices',
  pod: () => kubeletPod('devices'),
  cases: [
    k('device-null-alias', { extra: { devices: [{ container_path: '/dev/mynull', host_path: '/dev/null', permissions: 'rw' }] } }),
    k('device-same-path', { extra: { devices: [{ container_path: '/dev/zero', host_path: '/dev/zero', permissions: 'r' }] } }),
    k('device-mknod-only', { extra: { devices: [{ container_path: '/dev/mfull', host_path: '/dev/full', permissions: 'm' }] } }),
    k('device-bad-permissions', { extra: { devices: [{ container_path: '/dev/x', host_path: '/dev/null', permissions: 'rwx' }] } }, ['device-permissions-letters']),
    k('device-not-a-device', { extra: { devices: [{ container_path: '/dev/x', host_path: '/etc/passwd', permissions: 'rw' }] } }, ['unclassified-error']),
    k('device-missing', { extra: { devices: [{ container_path: '/dev/x', host_path: '/dev/no-such-device', permissions: 'rw' }] } }, ['unclassified-not-found']),
  ],
};
