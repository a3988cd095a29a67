import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { container } from '../translate/cri-status';
import { containerizerOf, matchesLabels } from './lookup';

/** `ListContainers` with its filter: id and sandbox id (or prefixes), state, labels. */
export const listContainers =
  (deps: ShimDeps): RuntimeHandler<'ListContainers'> =>
  async (req) => {
    const cz = containerizerOf(deps);
    const f = req.filter;
    const containers = cz
      .containers({ kind: 'container' })
      .map((c) => container(c))
      .filter((c) => !f?.id || c.id!.startsWith(f.id))
      .filter((c) => !f?.pod_sandbox_id || c.pod_sandbox_id!.startsWith(f.pod_sandbox_id))
      .filter((c) => !f?.state || c.state === f.state.state)
      .filter((c) => matchesLabels(c.labels!, f?.label_selector));
    return { containers };
  };
