import type { ContainerId } from '../../common/container-id';
import { CriError } from '../../common/errors';
import type { Containerizer, ContainerStatus, SandboxStatus } from '../../mesos-compat/containerizer';
import type { ShimDeps } from '../deps';

export function containerizerOf(deps: ShimDeps): Containerizer {
  if (!deps.containerizer) throw new CriError('Unavailable', 'the containerizer is not configured');
  return deps.containerizer;
}

/**
 * Resolves a sandbox or container id as clients send it: the full id, or
 * a unique prefix of one (as containerd and crictl allow).
 */
export function resolve(cz: Containerizer, id: string, kind: 'sandbox' | 'container'): ContainerId | undefined {
  if (!id) throw new CriError('InvalidArgument', `failed to parse request: ${kind === 'sandbox' ? 'pod_sandbox_id' : 'container_id'} is required`);
  const exact = cz.lookup(id);
  if (exact) return (exact.parent === undefined) === (kind === 'sandbox') ? exact : undefined;
  const matches = cz.containers({ kind }).filter((s) => s.id.startsWith(id));
  if (matches.length > 1) throw new CriError('InvalidArgument', `failed to resolve ${kind} id "${id}": ambiguous prefix`);
  return matches[0] ? cz.lookup(matches[0].id) : undefined;
}

export function mustResolve(cz: Containerizer, id: string, kind: 'sandbox' | 'container'): ContainerId {
  const found = resolve(cz, id, kind);
  if (!found) throw new CriError('NotFound', `${kind === 'sandbox' ? 'pod sandbox' : 'container'} ${JSON.stringify(id)} not found`);
  return found;
}

export const sandboxStatusOf = (cz: Containerizer, id: ContainerId): SandboxStatus => cz.status(id) as SandboxStatus;
export const containerStatusOf = (cz: Containerizer, id: ContainerId): ContainerStatus => cz.status(id) as ContainerStatus;

/** CRI label selectors: every key must be present with the given value. */
export const matchesLabels = (labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>> | undefined): boolean =>
  Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
