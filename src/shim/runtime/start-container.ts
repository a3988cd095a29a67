import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf, mustResolve } from './lookup';

export const startContainer =
  (deps: ShimDeps): RuntimeHandler<'StartContainer'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    await cz.start(mustResolve(cz, req.container_id, 'container'), ctx);
    return {};
  };
