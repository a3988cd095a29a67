import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { resources } from '../translate/cri-config';
import { containerizerOf, mustResolve } from './lookup';

/**
 * `UpdatePodSandboxResources` (in-place pod resize): the pod's resources and
 * its overhead, validated as UpdateContainerResources validates a
 * container's, summed into the pod cgroup's limits.
 */
export const updatePodSandboxResources =
  (deps: ShimDeps): RuntimeHandler<'UpdatePodSandboxResources'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const id = mustResolve(cz, req.pod_sandbox_id, 'sandbox');
    const r = resources(req.resources, 'resources');
    const o = resources(req.overhead, 'overhead');
    await cz.updateSandbox(id, { ...(r ? { resources: r } : {}), ...(o ? { overhead: o } : {}) }, ctx);
    return {};
  };
