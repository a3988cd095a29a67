/**
 * Reading pod IPs out of a CNI result (0.3.0 to 1.0.0 share this shape:
 * `interfaces[]`, `ips[{address: CIDR, interface?: index}]`).
 */
interface ResultShape {
  interfaces?: Array<{ name?: string; sandbox?: string }>;
  ips?: Array<{ address?: string; interface?: number }>;
}

const isV4 = (ip: string): boolean => !ip.includes(':');

/**
 * The pod's IPs without prefix length: those on an interface inside the
 * sandbox (or with no interface index, as bare IPAM results give), primary
 * first. As containerd's `selectPodIPs`, the first IPv4 address is primary
 * when there is one, since most clusters are single-stack IPv4.
 */
export function podIps(result: unknown): string[] {
  if (typeof result !== 'object' || result === null) return [];
  const r = result as ResultShape;
  const ifaces = Array.isArray(r.interfaces) ? r.interfaces : [];
  const ips: string[] = [];
  for (const entry of Array.isArray(r.ips) ? r.ips : []) {
    if (typeof entry?.address !== 'string') continue;
    const idx = entry.interface;
    if (typeof idx === 'number' && ifaces[idx] !== undefined && !ifaces[idx]!.sandbox) continue;
    const ip = entry.address.split('/')[0]!;
    // A chained `loopback` plugin may report lo's addresses; they are not the pod's.
    if (!ip || ip.startsWith('127.') || ip === '::1' || ips.includes(ip)) continue;
    ips.push(ip);
  }
  const v4 = ips.findIndex(isV4);
  if (v4 > 0) ips.unshift(...ips.splice(v4, 1));
  return ips;
}
