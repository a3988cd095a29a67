import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf } from './lookup';

/**
 * `UpdateRuntimeConfig`: kubelet pushes the node's pod CIDR on every node
 * that has one. It is kept (across restarts) and handed to CNI as the
 * `ipRanges` capability of pods started afterwards; an empty one changes
 * nothing, as in containerd.
 */
export const updateRuntimeConfig =
  (deps: ShimDeps): RuntimeHandler<'UpdateRuntimeConfig'> =>
  async (req, ctx) => {
    await containerizerOf(deps).updateNetworkConfig(req.runtime_config?.network_config?.pod_cidr ?? '', ctx);
    return {};
  };
