import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf, mustResolve } from './lookup';

/** `ReopenContainerLog`: the container's monitor reopens its log file (after kubelet rotated it). */
export const reopenContainerLog =
  (deps: ShimDeps): RuntimeHandler<'ReopenContainerLog'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    await cz.reopenLog(mustResolve(cz, req.container_id, 'container'), ctx);
    return {};
  };
