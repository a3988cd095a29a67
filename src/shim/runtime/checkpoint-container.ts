import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { int64 } from '../translate/security';
import { containerizerOf, mustResolve } from './lookup';

/**
 * `CheckpointContainer` (kubelet's checkpoint API): a CRIU checkpoint of a
 * running container into the archive at `location`, the container left
 * running; `timeout` is in seconds (0: the call's deadline only).
 */
export const checkpointContainer =
  (deps: ShimDeps): RuntimeHandler<'CheckpointContainer'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const id = mustResolve(cz, req.container_id, 'container');
    const timeout = int64(req.timeout, 'timeout');
    await cz.checkpoint(id, { location: req.location, timeoutSeconds: timeout > 0n ? Number(timeout) : 0 }, ctx);
    return {};
  };
