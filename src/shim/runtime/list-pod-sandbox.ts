import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { podSandbox } from '../translate/cri-status';
import { containerizerOf, matchesLabels } from './lookup';

/** `ListPodSandbox` with its filter: id (or prefix), state, labels. */
export const listPodSandbox =
  (deps: ShimDeps): RuntimeHandler<'ListPodSandbox'> =>
  async (req) => {
    const cz = containerizerOf(deps);
    const f = req.filter;
    const items = cz
      .containers({ kind: 'sandbox' })
      .map((s) => podSandbox(s))
      .filter((p) => !f?.id || p.id!.startsWith(f.id))
      .filter((p) => !f?.state || p.state === f.state.state)
      .filter((p) => matchesLabels(p.labels!, f?.label_selector));
    return { items };
  };
