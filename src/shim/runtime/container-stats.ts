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
    const out = [];
    for (const c of cz.containers()) {
      if (c.kind !== 'container' || c.state !== 'running') continue;
      if (f?.id && !c.id.startsWith(f.id)) continue;
      if (f?.pod_sandbox_id && !c.sandboxId.startsWith(f.pod_sandbox_id)) continue;
      if (!matchesLabels(c.config.labels, f?.label_selector)) continue;
      const st = await stats.container(cz, c, ctx);
      if (st) out.push(st);
    }
    return { stats: out };
  };
