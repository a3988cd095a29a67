import { log } from '../common/log';
import { setPullSource, setStateSource, type PullSnapshot } from '../common/metrics';
import type { Containerizer } from '../mesos-compat/containerizer';
import type { Config } from './config';
import { ConfigError } from './config';
import { parseListenAddress } from './config-metrics';
import { MetricsServer } from './metrics-server';

/** The listen address of `metrics.address`, or `undefined` when off; `ConfigError` when malformed. */
export function metricsListen(config: Config): { host: string; port: number } | undefined {
  if (!config.metrics.address) return undefined;
  try {
    return parseListenAddress(config.metrics.address);
  } catch (err) {
    throw new ConfigError(`invalid configuration: key "metrics.address": ${(err as Error).message}`);
  }
}

function countBy(items: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of items) out[s] = (out[s] ?? 0) + 1;
  return out;
}

/**
 * Wires the metrics' sources (the containerizer's states, the image
 * store's pulls) and serves `/metrics` when `metrics.address` is set.
 */
export async function startObservability(
  config: Config,
  deps: { containerizer: Containerizer; store: { pulls(): readonly PullSnapshot[] } },
): Promise<{ close(): Promise<void> }> {
  const listen = metricsListen(config);
  if (!listen) return { close: async () => undefined };
  setPullSource(() => deps.store.pulls());
  setStateSource(() => {
    const all = deps.containerizer.containers();
    return {
      sandboxes: countBy(all.filter((s) => s.kind === 'sandbox').map((s) => s.state)),
      containers: countBy(all.filter((c) => c.kind === 'container').map((c) => c.state)),
    };
  });
  const server = new MetricsServer();
  const port = await server.listen(listen.host, listen.port);
  log.info({ metrics: `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}/metrics` }, 'metrics endpoint listening');
  return { close: () => server.close() };
}
