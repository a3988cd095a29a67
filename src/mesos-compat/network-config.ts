import { isIP } from 'node:net';
import { checkpoint, readCheckpoint } from '../common/checkpoint';
import { CriError } from '../common/errors';
import { log } from '../common/log';
import { networkConfigCheckpoint, type Roots } from './paths';

/**
 * The node's network configuration as kubelet pushes it with
 * `UpdateRuntimeConfig`: the pod CIDRs (one per IP family). They reach CNI
 * as the `ipRanges` capability (CNI `CONVENTIONS.md`), so an IPAM plugin
 * that declares it (host-local does) allocates from the node's range rather
 * than the one in its config file. Kept in a checkpoint so pods started
 * after a daemon restart, before kubelet calls again, get the same range.
 */
export interface NetworkConfig {
  readonly podCidrs: readonly string[];
}

export const EMPTY_NETWORK_CONFIG: NetworkConfig = { podCidrs: [] };

/** One CIDR in canonical text, or `InvalidArgument` naming it. */
function parseCidr(text: string): string {
  const bad = (): never => {
    throw new CriError('InvalidArgument', `failed to update runtime config: pod CIDR "${text}" is not an IPv4 or IPv6 CIDR`);
  };
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(text);
  if (!m) return bad();
  const family = isIP(m[1]!);
  const bits = Number(m[2]);
  if (family === 0 || bits > (family === 4 ? 32 : 128)) return bad();
  return `${m[1]!.toLowerCase()}/${bits}`;
}

/**
 * The `pod_cidr` field as kubelet fills it: one CIDR, or a comma-separated
 * list on dual-stack nodes (containerd splits it the same way). At most one
 * per family, as Kubernetes' node IPAM allocates.
 */
export function parsePodCidrs(field: string): string[] {
  const cidrs = field
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(parseCidr);
  const v4 = cidrs.filter((c) => isIP(c.split('/')[0]!) === 4).length;
  if (v4 > 1 || cidrs.length - v4 > 1) {
    throw new CriError('InvalidArgument', `failed to update runtime config: pod CIDR "${field}" names more than one CIDR of a family`);
  }
  return cidrs;
}

export async function loadNetworkConfig(roots: Roots): Promise<NetworkConfig> {
  try {
    const saved = await readCheckpoint<NetworkConfig>(networkConfigCheckpoint(roots));
    if (saved && Array.isArray(saved.podCidrs)) return { podCidrs: saved.podCidrs.map(parseCidr) };
  } catch (err) {
    // A file we cannot read is the same as none: kubelet sends the CIDR again.
    log.warn({ err }, 'ignoring the unreadable network config checkpoint');
  }
  return EMPTY_NETWORK_CONFIG;
}

export async function saveNetworkConfig(roots: Roots, config: NetworkConfig): Promise<void> {
  await checkpoint(networkConfigCheckpoint(roots), config);
}
