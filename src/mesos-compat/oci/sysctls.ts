import { CriError } from '../../common/errors';
import type { NamespaceOptions } from '../launch-config';

/** Longest sysctl name and value a pod may send (the kernel's own names are under 100 bytes). */
export const SYSCTL_MAX_KEY = 256;
export const SYSCTL_MAX_VALUE = 4096;

/** runc's IPC-namespaced sysctls (libcontainer/configs/validate `sysctl`), besides `fs.mqueue.*`. */
const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/**
 * A sysctl name in the dots form (`net.ipv4.conf.eth0/100.forwarding`):
 * a name in the slash form (`net/ipv4/conf/eth0.100/forwarding`) has its
 * `.` and `/` swapped, as kubelet and runc convert it.
 */
export function sysctlDots(key: string): string {
  const first = key.search(/[./]/);
  if (first < 0 || key[first] === '.') return key;
  return key.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/** The `/proc/sys` path of a sysctl, relative (`net/ipv4/conf/eth0.100/forwarding`). */
export function sysctlPath(key: string): string {
  return sysctlDots(key).replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/**
 * The pod's sysctls as runc accepts them: the IPC ones only with the pod's
 * own IPC namespace, `net.*` only with its own network namespace,
 * `kernel.domainname` only with its own UTS namespace (the pod has one
 * exactly when it has its own network); everything else is not namespaced
 * and would change the node. containerd passes the request to runc, which
 * fails the pod at start; we refuse it at RunPodSandbox with
 * INVALID_ARGUMENT naming the field, before anything is made. Names are
 * bounded and made of the characters `/proc/sys` uses; values are bounded
 * and may hold spaces (`net.ipv4.ping_group_range: "0 2147483647"`).
 */
export function checkSysctls(sysctls: Readonly<Record<string, string>>, ns: NamespaceOptions): void {
  for (const [key, value] of Object.entries(sysctls)) {
    const field = `linux.sysctls[${JSON.stringify(key)}]`;
    const bad = (why: string): CriError => new CriError('InvalidArgument', `failed to run pod sandbox: ${field}: ${why}`);
    if (key.length === 0 || key.length > SYSCTL_MAX_KEY) throw bad(`the name must be 1 to ${SYSCTL_MAX_KEY} bytes`);
    if (!/^[A-Za-z0-9_./-]+$/.test(key) || sysctlPath(key).split('/').some((c) => c === '' || c === '.' || c === '..')) {
      throw bad('not a sysctl name');
    }
    if (Buffer.byteLength(value) > SYSCTL_MAX_VALUE) throw bad(`the value is longer than ${SYSCTL_MAX_VALUE} bytes`);
    if (value.includes('\0')) throw bad('the value holds a NUL byte');
    const name = sysctlDots(key);
    if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.')) {
      if (ns.ipc === 'node') throw bad(`sysctl ${name} is not allowed in the host's IPC namespace`);
    } else if (name.startsWith('net.')) {
      if (ns.network === 'node') throw bad(`sysctl ${name} is not allowed in the host's network namespace`);
    } else if (name === 'kernel.domainname') {
      if (ns.network === 'node') throw bad(`sysctl ${name} is not allowed in the host's UTS namespace`);
    } else {
      throw bad(`sysctl ${name} is not in a separate kernel namespace`);
    }
  }
}
