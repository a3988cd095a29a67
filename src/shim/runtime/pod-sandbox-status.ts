import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';
import { containerStatus, podSandboxStatus } from '../translate/cri-status';
import { containerizerOf, mustResolve, sandboxStatusOf } from './lookup';

/** `PodSandboxStatus`, with the pod's containers' statuses when verbose (as containerd's evented PLEG wants). */
export const podSandboxStatusHandler =
  (deps: ShimDeps): RuntimeHandler<'PodSandboxStatus'> =>
  async (req) => {
    const cz = containerizerOf(deps);
    const s = sandboxStatusOf(cz, mustResolve(cz, req.pod_sandbox_id, 'sandbox'));
    const mine = cz.containers({ kind: 'container', sandboxId: s.id });
    return {
      status: podSandboxStatus(s),
      info: (req.verbose ? { info: JSON.stringify({ pid: s.infraPid ?? 0, netnsPath: s.netnsPath ?? '', runtimeHandler: s.config.runtime ?? s.config.runtimeHandler, containers: mine.map((c) => c.id) }) } : {}) as Record<string, string>,
      containers_statuses: mine.map((c) => containerStatus(c)),
      timestamp: (BigInt(Date.now()) * 1_000_000n).toString(),
    };
  };
