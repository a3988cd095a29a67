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
    const list = cz
      .containers({ kind: 'sandbox' })
      .filter((s) => s.state === 'ready' && (!f?.id || s.id.startsWith(f.id)) && matchesLabels(s.config.labels, f?.label_selector));
    const out = await stats.sandboxes(cz, list, ctx);
    return { stats: out };
  };
