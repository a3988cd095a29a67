/**
 * Configuration keys of the metrics endpoint (issue 17), kept apart from
 * the core keys in `config.ts`; `SCHEMA` includes them.
 */
export interface MetricsConfig {
  /** `HOST:PORT` of the Prometheus endpoint; empty: off. */
  address: string;
}

/** Checked against `Key` where config.ts spreads them into `SCHEMA` (no import back: no cycle). */
export const METRICS_KEYS = [
  {
    path: 'metrics.address',
    kind: 'string',
    flag: 'metrics-address',
    def: '',
    help: 'HOST:PORT of the Prometheus /metrics endpoint, e.g. 127.0.0.1:9090 (empty: off)',
  },
] as const;

/** Splits `HOST:PORT` (`[v6]:PORT` for IPv6); throws a message naming the problem. */
export function parseListenAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]\s]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(address.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new Error(`"${address}" is not HOST:PORT (e.g. 127.0.0.1:9090)`);
  return { host: (m[1] ?? m[2])!, port };
}
