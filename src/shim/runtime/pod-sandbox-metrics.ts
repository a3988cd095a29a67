import { isCriError } from '../../common/errors';
import type { ContainerStatus } from '../../mesos-compat/containerizer';
import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerMetrics, metricDescriptors, podMetrics } from '../translate/metrics';
import { containerizerOf } from './lookup';

/** `ListMetricDescriptors`: what kubelet registers once, at start. */
export const listMetricDescriptors = (): RuntimeHandler<'ListMetricDescriptors'> => async () => ({ descriptors: metricDescriptors() });

/**
 * `ListPodSandboxMetrics`: for every ready sandbox, its network (pod level)
 * and its running containers' cgroups (container level), read on demand
 * (timestamps are the reading's). A sandbox or container removed while
 * this runs is left out, not an error.
 */
export const listPodSandboxMetrics =
  (deps: ShimDeps): RuntimeHandler<'ListPodSandboxMetrics'> =>
  async (_req, ctx) => {
    const cz = containerizerOf(deps);
    const all = cz.containers();
    const pod_metrics = [];
    for (const s of all) {
      if (s.kind !== 'sandbox' || s.state !== 'ready') continue;
      try {
        const id = cz.lookup(s.id);
        if (!id) continue;
        const members = all.filter((c): c is ContainerStatus => c.kind === 'container' && c.sandboxId === s.id && c.state === 'running');
        const container_metrics = [];
        for (const c of members) {
          const cid = cz.lookup(c.id);
          if (!cid) continue;
          const u = await cz.usage(cid, ctx, { detail: true }).catch((err: unknown) => {
            if (isCriError(err, 'NotFound')) return undefined;
            throw err;
          });
          if (u) container_metrics.push({ container_id: c.id, metrics: containerMetrics(c, s.config, u) });
        }
        pod_metrics.push({ pod_sandbox_id: s.id, metrics: podMetrics(s.id, await cz.usage(id, ctx)), container_metrics });
      } catch (err) {
        if (!isCriError(err, 'NotFound')) throw err;
      }
    }
    return { pod_metrics };
  };
