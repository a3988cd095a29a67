import { randomBytes } from 'node:crypto';
import { topLevel } from '../../common/container-id';
import { CriError } from '../../common/errors';
import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { checkSandboxConfig } from '../../mesos-compat/oci';
import { checkSandboxBounds } from '../translate/bounds';
import { sandboxConfig } from '../translate/cri-config';
import { containerizerOf } from './lookup';

/** `RunPodSandbox`: launch a top-level container; the id is ours to choose (Mesos: the caller's). */
export const runPodSandbox =
  (deps: ShimDeps): RuntimeHandler<'RunPodSandbox'> =>
  async (req, ctx) => {
    const cz = containerizerOf(deps);
    const handler = req.runtime_handler;
    // Named handlers (`runtimes`): '' is the default; the resolved name is checkpointed with the pod.
    const runtime = handler || deps.runtimeName;
    if (!(deps.runtimeHandlers ?? [deps.runtimeName]).includes(runtime)) {
      throw new CriError('NotFound', `failed to run pod sandbox: runtime handler ${JSON.stringify(handler.slice(0, 256))} not found`);
    }
    checkSandboxBounds(req.config);
    const config = { ...sandboxConfig(req.config, handler), runtime };
    checkSandboxConfig(config);
    const id = randomBytes(32).toString('hex');
    await cz.launch(topLevel(id), { kind: 'sandbox', config }, ctx);
    return { pod_sandbox_id: id };
  };
