import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf, resolve } from './lookup';

/** `RemoveContainer`: force-stops a running container first; unknown ids succeed. */
export const removeContainer =
  (deps: ShimDeps): RuntimeHandler<'RemoveContainer'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const id = resolve(cz, req.container_id, 'container');
    if (id) await cz.remove(id, ctx);
    return {};
  };
