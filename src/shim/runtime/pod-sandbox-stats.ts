import { CriError } from '../../common/errors';
import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf, matchesLabels, mustResolve, sandboxStatusOf } from './lookup';
import type { StatsCollector } from './stats';

export const podSandboxStatsHandler =
  (deps: ShimDeps, stats: StatsCollector): RuntimeHandler<'PodSandboxStats'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const s = sandboxStatusOf(cz, mustResolve(cz, req.pod_sandbox_id, 'sandbox'));
    const st = await stats.sandbox(cz, s, ctx);
    if (!st) throw new CriError('NotFound', `pod sandbox ${JSON.stringify(req.pod_sandbox_id)} not found`);
    return { stats: st };
  };

/** `ListPodSandboxStats`: ready sandboxes matching the filter. */
export const listPodSandboxStats =
  (deps: ShimDeps, stats: StatsCollector): RuntimeHandler<'ListPodSandboxStats'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const f = req.filter;
    const out = [];
    for (const s of cz.containers()) {
      if (s.kind !== 'sandbox' || s.state !== 'ready') continue;
      if (f?.id && !s.id.startsWith(f.id)) continue;
      if (!matchesLabels(s.config.labels, f?.label_selector)) continue;
      const st = await stats.sandbox(cz, s, ctx);
      if (st) out.push(st);
    }
    return { stats: out };
  };
