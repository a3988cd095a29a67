import { CriError } from '../../common/errors';
import type { Capability, HostsConfig, TlsSettings } from './hosts';

/**
 * Where a registry host is reached: its mirrors from the config, in order,
 * then the origin (containerd `hosts.toml` semantics). Plain HTTP only for
 * hosts configured insecure and for loopback.
 */
export interface Endpoint {
  /** `http://host:port` or `https://host:port`, no trailing slash. */
  readonly base: string;
  readonly mirror: boolean;
  /** Issue 16 (`hosts.toml`): what the host may do (default both), its TLS, extra headers, and its API root when not `<base>/v2`. */
  readonly capabilities?: readonly Capability[];
  readonly tls?: TlsSettings;
  readonly headers?: Readonly<Record<string, string>>;
  readonly apiRoot?: string;
}

/** `<base>/v2` unless `override_path` gave the API root itself. */
export const apiRoot = (e: Endpoint): string => e.apiRoot ?? `${e.base}/v2`;
export const can = (e: Endpoint, c: Capability): boolean => (e.capabilities ?? ['pull', 'resolve']).includes(c);

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;

export const isLoopback = (host: string): boolean => LOOPBACK.test(host);

function schemeFor(host: string, insecure: readonly string[]): 'http' | 'https' {
  return isLoopback(host) || insecure.includes(host) ? 'http' : 'https';
}

function toBase(entry: string, insecure: readonly string[]): string {
  const m = /^(https?):\/\/([^/]+)\/?$/.exec(entry);
  if (m) {
    if (m[1] === 'http' && !isLoopback(m[2]!) && !insecure.includes(m[2]!))
      throw new CriError('InvalidArgument', `failed to configure mirror ${entry}: plain HTTP only for loopback or registries listed insecure`);
    return `${m[1]}://${m[2]}`;
  }
  if (entry.includes('/')) throw new CriError('InvalidArgument', `failed to configure mirror ${entry}: expected host[:port] or http(s)://host[:port]`);
  return `${schemeFor(entry, insecure)}://${entry}`;
}

export function endpointsFor(
  domain: string,
  mirrors: Readonly<Record<string, readonly string[]>>,
  insecure: readonly string[],
  hosts?: HostsConfig,
): Endpoint[] {
  const out: Endpoint[] = (mirrors[domain] ?? []).map((m) => ({ base: toBase(m, insecure), mirror: true }));
  for (const h of hosts?.hosts ?? []) out.push(fromHost(h.url, h, true));
  // Docker Hub's API lives on a different host than its name (containerd `docker.io` default).
  const origin = domain === 'docker.io' ? 'registry-1.docker.io' : domain;
  const base = hosts?.server?.url ?? `${schemeFor(domain, insecure)}://${origin}`;
  out.push(hosts?.server ? fromHost(base, hosts.server, false) : { base, mirror: false });
  return out;
}

function fromHost(url: string, h: NonNullable<HostsConfig['server']>, mirror: boolean): Endpoint {
  const u = new URL(url);
  return {
    base: `${u.protocol}//${u.host}`,
    mirror,
    capabilities: h.capabilities,
    ...(h.tls ? { tls: h.tls } : {}),
    ...(h.headers ? { headers: h.headers } : {}),
    ...(h.overridePath ? { apiRoot: url } : u.pathname !== '/' && u.pathname !== '' ? { apiRoot: `${u.protocol}//${u.host}${u.pathname}/v2` } : {}),
  };
}
