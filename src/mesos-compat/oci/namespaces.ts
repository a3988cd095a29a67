import { CriError } from '../../common/errors';
import type { NamespaceOptions } from '../config';
import type { OciNamespace } from './types';

/**
 * Namespaces of the pod's infra process. It owns the pod's IPC and UTS
 * namespaces (and PID, unless host PID), and sits in the pinned network
 * namespace CNI configured. Host network means no network namespace and no
 * UTS one either (the pod keeps the node's hostname), as in containerd.
 * Without a pinned netns and without host network the pod gets a fresh,
 * loopback-only network namespace.
 */
export function sandboxNamespaces(ns: NamespaceOptions, netnsPath: string | undefined): OciNamespace[] {
  const out: OciNamespace[] = [{ type: 'mount' }];
  if (ns.pid !== 'node') out.push({ type: 'pid' });
  if (ns.ipc !== 'node') out.push({ type: 'ipc' });
  if (ns.network !== 'node') {
    out.push({ type: 'uts' });
    out.push(netnsPath ? { type: 'network', path: netnsPath } : { type: 'network' });
  }
  return out;
}

/**
 * Namespaces of a container: it joins the infra process's network, IPC and
 * UTS namespaces through `/proc/<pid>/ns/*` (containerd `WithPodNamespaces`),
 * gets its own mount namespace, and picks its PID namespace by mode: the
 * pod's (`pod`), a new one (`container`), the host's (`node`), or another
 * container's (`target`).
 */
export function containerNamespaces(opts: {
  ns: NamespaceOptions;
  infraPid: number;
  hostNetwork: boolean;
  targetPid?: number;
}): OciNamespace[] {
  const { ns, infraPid } = opts;
  if (!Number.isInteger(infraPid) || infraPid <= 0) {
    throw new CriError('FailedPrecondition', `failed to join the pod's namespaces: sandbox infra pid ${infraPid} is not running`);
  }
  const at = (kind: string): string => `/proc/${infraPid}/ns/${kind}`;
  const out: OciNamespace[] = [{ type: 'mount' }];
  switch (ns.pid) {
    case 'pod':
      out.push({ type: 'pid', path: at('pid') });
      break;
    case 'container':
      out.push({ type: 'pid' });
      break;
    case 'node':
      break;
    case 'target':
      if (opts.targetPid === undefined || !Number.isInteger(opts.targetPid) || opts.targetPid <= 0) {
        throw new CriError('NotFound', `failed to join namespace_options.target_id "${ns.targetId}": target container is not running`);
      }
      out.push({ type: 'pid', path: `/proc/${opts.targetPid}/ns/pid` });
      break;
  }
  if (ns.ipc !== 'node') out.push({ type: 'ipc', path: at('ipc') });
  if (!opts.hostNetwork) {
    out.push({ type: 'uts', path: at('uts') });
    out.push({ type: 'network', path: at('net') });
  }
  return out;
}
