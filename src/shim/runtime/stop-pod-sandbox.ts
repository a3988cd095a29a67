import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf, resolve } from './lookup';

/** `StopPodSandbox`: idempotent; unknown ids succeed (api.proto). */
export const stopPodSandbox =
  (deps: ShimDeps): RuntimeHandler<'StopPodSandbox'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const id = resolve(cz, req.pod_sandbox_id, 'sandbox');
    if (id) await cz.destroy(id, ctx);
    return {};
  };
