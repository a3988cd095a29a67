import type { Exception } from '../support/compare';
import { IMAGE_VOLUMES } from '../support/images';
import type { Difference } from '../support/view';

/**
 * Every reviewed difference between containerd 1.6 (Debian's 1.6.20, with
 * runc 1.1.5) and mesos-cri that the catalogue shows, and why we keep ours.
 * Each was seen in a run of this suite; the README lists them.
 */

const section = (...names: string[]) => (d: Difference): boolean => names.includes(d.section);
const lineStarts = (name: string, ...prefixes: string[]) => (d: Difference): boolean => d.section === name && prefixes.some((p) => d.line.startsWith(p));

export const EXCEPTIONS: readonly Exception[] = [
  {
    id: 'unclassified-error',
    why: 'containerd 1.6 refuses the request with an error it does not classify, which gRPC reports as UNKNOWN; we refuse it at the same call as INVALID_ARGUMENT, since the request is what is wrong (the message names the field). kubelet treats both alike.',
    codes: { containerd: 'Unknown', ours: 'InvalidArgument' },
  },
  {
    id: 'unclassified-not-found',
    why: 'containerd 1.6 answers UNKNOWN when something the request names does not exist (a user in the image, a seccomp profile file); we answer NOT_FOUND at the same call.',
    codes: { containerd: 'Unknown', ours: 'NotFound' },
  },
  {
    id: 'cap-prefixed-names',
    why: 'containerd 1.6 prefixes every capability name with CAP_, so "CAP_NET_ADMIN" becomes CAP_CAP_NET_ADMIN, which runc ignores: the capability is silently not granted. We accept the name with or without the prefix, as CRI-O does.',
    covers: lineStarts('status', 'Cap'),
  },
  {
    id: 'ambient-capabilities',
    why: 'containerd 1.6 predates add_ambient_capabilities and ignores the field; we grant what it asks (an ambient capability is also inheritable and permitted).',
    covers: (d) => lineStarts('status', 'Cap')(d) || lineStarts('sys', 'socket_raw', 'socket_packet')(d),
  },
  {
    id: 'image-user-groups',
    why: 'containerd 1.6 looks supplementary groups up for run_as_user, or uid 0 when that is unset, not for the user that runs: a container running as its image\'s User gets root\'s memberships from /etc/group and loses its own. We give the user that runs its own memberships, as runc, CRI-O and Docker do.',
    covers: lineStarts('status', 'Groups:'),
  },
  {
    id: 'docker-seccomp-conditions',
    why: 'containerd 1.6 reads a Localhost profile as OCI JSON and ignores the Docker format\'s includes/excludes: rules meant only for some capabilities apply to every container. We honour them, as Docker and CRI-O (containers/common) do.',
    covers: section('sys'),
  },
  {
    id: 'privileged-sysfs',
    why: 'containerd 1.6 leaves /sys read-only in privileged containers (its pause container mounts the pod\'s sysfs read-only first); runc, CRI-O, Docker and we give privileged containers a writable /sys, as the Kubernetes docs describe.',
    covers: (d) => (d.section === 'mount' && / sysfs /.test(d.line)) || (d.section === 'path' && d.line.startsWith('/sys/')),
  },
  {
    id: 'io-uring',
    why: 'containerd 1.6\'s RuntimeDefault profile allows io_uring_setup/enter/register; containerd 2.0 removed them (containerd PR 9320, after Google\'s kCTF findings), as did Docker. Our RuntimeDefault refuses them.',
    covers: lineStarts('sys', 'io_uring_setup'),
  },
  {
    id: 'tty-log-cr',
    why: 'A tty turns each \\n the container writes into \\r\\n (both runtimes leave the terminal\'s ONLCR on). containerd\'s CRI log writer drops a \\r before each \\n (its readLine); conmon (CRI-O\'s monitor, and ours) writes the bytes as they came, as CRI-O and Docker logs show them. What the container wrote is the same.',
    covers: section('log'),
  },
  {
    id: 'oom-unset',
    why: 'With no resources at all (only crictl users send none; kubelet always does), containerd leaves oom_score_adj unset and the container inherits its shim\'s (containerd\'s own plus one); we set 0, the value of an unset request.',
    covers: section('oom'),
  },
  {
    id: 'runtime-hosts-file',
    why: 'For a pod with its own network, containerd 1.6 copies the node\'s /etc/hosts into the pod (the node\'s names then resolve to 127.0.0.1 inside it); we write one with the localhost entries and the pod\'s own name and IP, as Docker does. kubelet bind-mounts its own /etc/hosts into every container, so only crictl users see either.',
    covers: (d) => d.section === 'file' && d.line.startsWith('/etc/hosts'),
  },
  {
    id: 'shm-follows-pod-ipc',
    why: 'containerd 1.6 picks /dev/shm by the container\'s ipc option but the IPC namespace by the pod\'s: a container asking NODE in a pod with its own IPC namespace gets the node\'s /dev/shm with the pod\'s SysV IPC, and one asking POD in a host-IPC pod gets an empty 0755 directory. kubelet always sends the pod\'s mode; we take both from the pod.',
    covers: (d) => (d.section === 'mount' && d.line.startsWith('/dev/shm ')) || (d.section === 'dev' && d.line.startsWith('/dev/shm ')),
  },
  {
    id: 'image-volumes-in-rootfs',
    why: 'An image VOLUME no mount covers: containerd 1.6 binds a fresh per-container host directory there (a copy of the image\'s content), writable even with a read-only rootfs; we make it a directory of the container\'s own rootfs, as CRI-O does by default (image_volumes = "mkdir"), so a read-only rootfs covers it too. kubelet users give such paths an emptyDir; we never copy image content to the host.',
    covers: (d) => (d.section === 'mount' || d.section === 'write') && IMAGE_VOLUMES.some((v) => d.line.startsWith(`${v} `) || d.line.startsWith(`${v}/`)),
  },
  {
    id: 'device-permissions-letters',
    why: 'Device permissions other than r, w and m (e.g. "rwx"): containerd 1.6 passes them on and the container runs with whatever the cgroup makes of them; we refuse the request at CreateContainer with INVALID_ARGUMENT naming devices[i].permissions, since a letter the kernel does not know means the rule grants something other than what was written.',
    outcome: { refused: 'mesos-cri', code: 'InvalidArgument' },
  },
];

export const exceptionsById = new Map(EXCEPTIONS.map((e) => [e.id, e]));
