import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerStatus } from '../translate/cri-status';
import { containerizerOf, containerStatusOf, mustResolve } from './lookup';

export const containerStatusHandler =
  (deps: ShimDeps): RuntimeHandler<'ContainerStatus'> =>
  async (req) => {
    const cz = containerizerOf(deps);
    const c = containerStatusOf(cz, mustResolve(cz, req.container_id, 'container'));
    const info: Record<string, string> = req.verbose ? { info: JSON.stringify({ pid: c.pid ?? 0, sandboxId: c.sandboxId, config: { name: c.config.name } }) } : {};
    // The image's names as they are now, as containerd looks them up at each call.
    const names = c.image?.id ? await deps.images?.resolve(c.image.id) : undefined;
    return { status: containerStatus(c, names), info };
  };
