import { CriError } from '../../common/errors';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf, containerStatusOf, matchesLabels, mustResolve } from './lookup';
import type { ShimDeps } from '../deps';
import type { StatsCollector } from './stats';

export const containerStatsHandler =
  (deps: ShimDeps, stats: StatsCollector): RuntimeHandler<'ContainerStats'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const c = containerStatusOf(cz, mustResolve(cz, req.container_id, 'container'));
    const st = await stats.container(cz, c, ctx);
    if (!st) throw new CriError('NotFound', `container ${JSON.stringify(req.container_id)} not found`);
    return { stats: st };
  };

/** `ListContainerStats`: running containers matching the filter (as containerd). */
export const listContainerStats =
  (deps: ShimDeps, stats: StatsCollector): RuntimeHandler<'ListContainerStats'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const f = req.filter;
    const list = cz
      .containers({ kind: 'container' })
      .filter(
        (c) =>
          c.state === 'running' &&
          (!f?.id || c.id.startsWith(f.id)) &&
          (!f?.pod_sandbox_id || c.sandboxId.startsWith(f.pod_sandbox_id)) &&
          matchesLabels(c.config.labels, f?.label_selector),
      );
    const out = await stats.containers(cz, list, ctx);
    return { stats: out };
  };
