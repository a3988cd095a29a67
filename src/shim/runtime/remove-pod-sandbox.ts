import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf, resolve } from './lookup';

/** `RemovePodSandbox`: stops what still runs, removes every container and all state; idempotent. */
export const removePodSandbox =
  (deps: ShimDeps): RuntimeHandler<'RemovePodSandbox'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const id = resolve(cz, req.pod_sandbox_id, 'sandbox');
    if (id) await cz.remove(id, ctx);
    return {};
  };
