import { CriError } from '../../common/errors';
import type { NamespaceOptions } from '../launch-config';
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
 * Namespaces of a container, as containerd's `WithPodNamespaces` picks them:
 * it always joins the infra process's network, IPC and UTS namespaces
 * through `/proc/<pid>/ns/*` (the node's when the pod uses the node's), gets
 * its own mount namespace, and takes its PID namespace by its own mode: a new
 * one (`container`), another container's (`target`), or the pod's for both
 * `pod` and `node`. Whether a container may share the node's namespaces is
 * decided for the whole pod (kubelet's admission checks the pod's); a
 * container asking for `node` in a pod that has its own gets the pod's.
 */
export function containerNamespaces(opts: {
  /** The container's own options (only `pid` and `targetId` count). */
  ns: NamespaceOptions;
  /** The pod's options: they decide network, IPC and a shared PID namespace. */
  pod: NamespaceOptions;
  infraPid: number;
  targetPid?: number;
}): OciNamespace[] {
  const { ns, pod, infraPid } = opts;
  if (!Number.isInteger(infraPid) || infraPid <= 0) {
    throw new CriError('FailedPrecondition', `failed to join the pod's namespaces: sandbox infra pid ${infraPid} is not running`);
  }
  // The infra process holds no namespace of a kind the pod shares with the
  // node; leaving that kind out keeps the container in the node's, which is
  // what joining the infra process's would give too.
  const at = (kind: string): string => `/proc/${infraPid}/ns/${kind}`;
  const out: OciNamespace[] = [{ type: 'mount' }];
  switch (ns.pid) {
    case 'pod':
    case 'node':
      if (pod.pid !== 'node') out.push({ type: 'pid', path: at('pid') });
      break;
    case 'container':
      out.push({ type: 'pid' });
      break;
    case 'target':
      if (opts.targetPid === undefined || !Number.isInteger(opts.targetPid) || opts.targetPid <= 0) {
        throw new CriError('NotFound', `failed to join namespace_options.target_id "${ns.targetId}": target container is not running`);
      }
      out.push({ type: 'pid', path: `/proc/${opts.targetPid}/ns/pid` });
      break;
  }
  if (pod.ipc !== 'node') out.push({ type: 'ipc', path: at('ipc') });
  if (pod.network !== 'node') {
    out.push({ type: 'uts', path: at('uts') });
    out.push({ type: 'network', path: at('net') });
  }
  return out;
}
