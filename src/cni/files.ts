import { mkdir, readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { writeAtomic } from '../common/checkpoint';
import { isErrno } from '../common/fsutil';
import type { DnsConfig } from './types';

export interface SandboxFilesOptions {
  /** The pod's hostname; ignored for host-network pods, which share the host's UTS namespace. */
  hostname: string;
  dns?: DnsConfig;
  /** Pod IPs, primary first; empty for host-network pods. */
  ips: string[];
  hostNetwork: boolean;
  /** The host's files to inherit from; defaults are the real ones (tests point elsewhere). */
  host?: { hostname?: string; resolvConf?: string; hosts?: string };
}

export interface SandboxFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

/** kubelet's `managedHostsHeader` entries (`pkg/kubelet/kubelet_pods.go`), under our own header. */
const HOSTS_BASE = [
  '# Kubernetes-managed hosts file (written by mesos-cri).',
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'fe00::0\tip6-mcastprefix',
  'fe00::1\tip6-allnodes',
  'fe00::2\tip6-allrouters',
];

/** resolv.conf from a CRI `DNSConfig` (what containerd's `parseDNSOptions` writes). */
export function resolvConfText(dns: DnsConfig): string {
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

export function hostsText(hostname: string, ips: readonly string[]): string {
  return `${[...HOSTS_BASE, ...ips.map((ip) => `${ip}\t${hostname}`)].join('\n')}\n`;
}

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return fallback;
    throw err;
  }
}

/**
 * Writes the sandbox's `hostname`, `hosts` and `resolv.conf` into `dir`;
 * the containerizer bind-mounts them into every container of the pod at
 * `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`.
 *
 * A pod's resolv.conf comes from its `DNSConfig`, else the host's (as
 * containerd and CRI-O do for `dnsPolicy: Default`). Host-network pods take
 * the host's hostname and hosts file, since they share the host's identity.
 */
export async function writeSandboxFiles(dir: string, opts: SandboxFilesOptions): Promise<SandboxFiles> {
  await mkdir(dir, { recursive: true });
  const paths: SandboxFiles = {
    hostname: join(dir, 'hostname'),
    hosts: join(dir, 'hosts'),
    resolvConf: join(dir, 'resolv.conf'),
  };
  const name = opts.hostNetwork || !opts.hostname ? (opts.host?.hostname ?? osHostname()) : opts.hostname;
  const hosts = opts.hostNetwork ? await readOr(opts.host?.hosts ?? '/etc/hosts', hostsText(name, [])) : hostsText(name, opts.ips);
  const resolv = opts.dns ? resolvConfText(opts.dns) : await readOr(opts.host?.resolvConf ?? '/etc/resolv.conf', '');
  // Write-then-rename, so a container never bind-mounts a half-written file.
  const written = { sync: false, mode: 0o644 };
  await writeAtomic(paths.hostname, `${name}\n`, written);
  await writeAtomic(paths.hosts, hosts, written);
  await writeAtomic(paths.resolvConf, resolv, written);
  return paths;
}
