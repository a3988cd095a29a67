import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf, resolve } from './lookup';

/** `StopContainer`: stop signal, SIGKILL after `timeout` seconds; unknown ids succeed (api.proto). */
export const stopContainer =
  (deps: ShimDeps): RuntimeHandler<'StopContainer'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const id = resolve(cz, req.container_id, 'container');
    if (id) await cz.kill(id, { timeoutSeconds: Math.max(0, Number(req.timeout || '0')) }, ctx);
    return {};
  };
