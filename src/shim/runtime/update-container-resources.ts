import { CriError } from '../../common/errors';
import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { checkResourceBounds } from '../translate/bounds';
import { resources } from '../translate/cri-config';
import { containerizerOf, mustResolve } from './lookup';

export const updateContainerResources =
  (deps: ShimDeps): RuntimeHandler<'UpdateContainerResources'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const id = mustResolve(cz, req.container_id, 'container');
    checkResourceBounds(req.linux, 'linux');
    const r = resources(req.linux);
    if (!r) throw new CriError('InvalidArgument', 'failed to update container resources: linux is required');
    await cz.update(id, r, ctx);
    return {};
  };
