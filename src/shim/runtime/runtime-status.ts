import type { ShimDeps } from '../deps';
import type { RuntimeHandler } from '../handlers';

/**
 * `Status`: RuntimeReady is true once the daemon serves (the wrapper answers
 * UNAVAILABLE before recovery ends); NetworkReady follows the CNI config.
 */
const streamingUrl = (deps: ShimDeps): string | undefined => {
  try {
    return deps.streaming?.url;
  } catch {
    return undefined; // not started yet
  }
};

export const status =
  (deps: ShimDeps): RuntimeHandler<'Status'> =>
  async (req) => {
    const net = deps.readiness.network();
    return {
      status: {
        conditions: [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          { type: 'NetworkReady', status: net.ready, reason: net.ready ? '' : net.reason, message: net.ready ? '' : net.message },
        ],
      },
      // containerd's: every handler, and the default's again under '' (what kubelet sends for no RuntimeClass).
      runtime_handlers: ['', ...(deps.runtimeHandlers ?? [deps.runtimeName])].map((name) => ({
        name,
        features: { recursive_read_only_mounts: false, user_namespaces: false },
      })),
      features: { supplemental_groups_policy: false, user_namespaces_host_network: false },
      info: req.verbose
        ? { config: JSON.stringify({ runtime: deps.runtimeName, runtimeHandlers: deps.runtimeHandlers ?? [deps.runtimeName], runtimeVersion: deps.runtimeVersion, cni: deps.config.cni, streaming: deps.config.streaming, streamingUrl: streamingUrl(deps) }) }
        : ({} as Record<string, string>),
    };
  };
