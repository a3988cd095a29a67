import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import type { DnsConfig, PortMapping } from '../launch-config';

export interface NetworkAttachRequest {
  readonly sandboxId: string;
  readonly podName: string;
  readonly podNamespace: string;
  readonly podUid: string;
  readonly portMappings: readonly PortMapping[];
  readonly dns?: DnsConfig;
  readonly cgroupParent?: string;
  /** The node's pod CIDRs, for plugins that take the `ipRanges` capability. */
  readonly ipRanges?: readonly string[];
}

export interface PodNetworkInfo {
  readonly netnsPath: string;
  /** Primary first. */
  readonly ips: readonly string[];
}

/**
 * The network isolator hook for pod sandboxes (Mesos `network/cni`): a
 * pinned network namespace per non-host-network sandbox. `src/cni`'s
 * `CniNetworkIsolator` satisfies it structurally.
 */
export interface NetworkIsolator {
  /** Drops state of sandboxes not in `knownSandboxIds` (orphans). */
  recover(knownSandboxIds: ReadonlySet<string>, ctx: Ctx): Promise<unknown>;
  attach(req: NetworkAttachRequest, ctx: Ctx): Promise<PodNetworkInfo>;
  /** Idempotent: CNI DEL may be repeated. */
  detach(sandboxId: string, ctx: Ctx): Promise<unknown>;
}

/** Until a CNI config is plugged in: host-network pods only. */
export class NoNetwork implements NetworkIsolator {
  async recover(): Promise<void> {}
  async attach(): Promise<PodNetworkInfo> {
    throw new CriError('FailedPrecondition', 'failed to set up pod network: no CNI network is configured (only host-network pods can run)');
  }
  async detach(): Promise<void> {}
}
