import { CriError } from '../../common/errors';
import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerizerOf, mustResolve, sandboxStatusOf } from './lookup';
import { streamingOf } from './streaming-urls';

/** `PortForward`: the sandbox must be ready; ports are checked by the streaming server per stream. */
export const portForwardUrl =
  (deps: ShimDeps): RuntimeHandler<'PortForward'> =>
  async (req) => {
    const cz = containerizerOf(deps);
    const sid = mustResolve(cz, req.pod_sandbox_id, 'sandbox');
    if (sandboxStatusOf(cz, sid).state !== 'ready') throw new CriError('FailedPrecondition', `pod sandbox ${JSON.stringify(req.pod_sandbox_id)} is not ready`);
    for (const p of req.port) if (p <= 0 || p > 65535) throw new CriError('InvalidArgument', `port ${p} is out of range 1-65535`);
    return { url: streamingOf(deps).getPortForward({ podSandboxId: sid.value, ports: [...req.port] }) };
  };
