import { CriError } from '../../common/errors';

/**
 * Where a registry host is reached: its mirrors from the config, in order,
 * then the origin (containerd `hosts.toml` semantics). Plain HTTP only for
 * hosts configured insecure and for loopback.
 */
export interface Endpoint {
  /** `http://host:port` or `https://host:port`, no trailing slash. */
  readonly base: string;
  readonly mirror: boolean;
}

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

export function endpointsFor(domain: string, mirrors: Readonly<Record<string, readonly string[]>>, insecure: readonly string[]): Endpoint[] {
  const out: Endpoint[] = (mirrors[domain] ?? []).map((m) => ({ base: toBase(m, insecure), mirror: true }));
  // Docker Hub's API lives on a different host than its name (containerd `docker.io` default).
  const origin = domain === 'docker.io' ? 'registry-1.docker.io' : domain;
  out.push({ base: `${schemeFor(domain, insecure)}://${origin}`, mirror: false });
  return out;
}
