import { randomBytes } from 'node:crypto';
import { nested } from '../../common/container-id';
import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { checkContainerBounds } from '../translate/bounds';
import { containerConfig } from '../translate/cri-config';
import { containerizerOf, mustResolve } from './lookup';

/** `CreateContainer`: a nested launch under the sandbox, left in state CREATED. */
export const createContainer =
  (deps: ShimDeps): RuntimeHandler<'CreateContainer'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    checkContainerBounds(req.config);
    const sandbox = mustResolve(cz, req.pod_sandbox_id, 'sandbox');
    const config = containerConfig(req.config);
    const id = randomBytes(32).toString('hex');
    await cz.launch(nested(sandbox, id), { kind: 'container', config }, ctx);
    return { container_id: id };
  };
