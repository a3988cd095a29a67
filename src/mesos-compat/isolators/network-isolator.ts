import type { Ctx } from '../../common/ctx';
import type { ResourceStatistics } from '../containerizer';
import type { DnsConfig } from '../launch-config';
import { sandboxFilesDir, type Roots } from '../paths';
import type { SandboxRecord } from '../state';
import { netnsInterfaces } from './cgroup-detail';
import type { IsolatedSandbox, Isolator, RecoveredSandboxes, SandboxLaunch, SandboxLaunchInfo } from './isolator';
import type { NetworkIsolator } from './network';

export type WriteSandboxFiles = (
  dir: string,
  opts: { hostname: string; dns?: DnsConfig; ips: string[]; hostNetwork: boolean },
) => Promise<{ hostname: string; hosts: string; resolvConf: string }>;

export interface SandboxNetworkDeps {
  readonly network: NetworkIsolator;
  readonly writeFiles: WriteSandboxFiles;
  readonly roots: Roots;
  /** Whether the sandbox's infra process is still the one it started (its /proc view is the pod's netns). */
  readonly infraAlive: (sb: SandboxRecord) => boolean;
}

/**
 * The network isolator of pod sandboxes (Mesos `network/cni`), over the
 * `NetworkIsolator` hook (`src/cni`): `prepare` attaches a non-host-network
 * sandbox (its netns and IPs checkpointed at once, so a crash leaves a
 * trace `recover` cleans), then writes the pod's hostname, hosts and
 * resolv.conf, which name those IPs. `usage` reads the pod's interfaces
 * through the infra process. `cleanup` detaches; the files go with the
 * sandbox dir.
 */
export class SandboxNetworkIsolator implements Isolator {
  readonly name = 'network';

  constructor(private readonly deps: SandboxNetworkDeps) {}

  /** The CNI isolator drops state of every sandbox but the running non-host-network ones and those left untouched. */
  async recover(state: RecoveredSandboxes, ctx: Ctx): Promise<void> {
    const live = state.sandboxes.filter((s) => s.phase === 'running' && !s.hostNetwork).map((s) => s.id);
    await this.deps.network.recover(new Set([...live, ...state.untouched]), ctx);
  }

  async prepare(launch: SandboxLaunch): Promise<SandboxLaunchInfo> {
    const { id, config, rec } = launch;
    if (!rec.hostNetwork) {
      const net = await this.deps.network.attach(
        {
          sandboxId: id,
          podName: config.name,
          podNamespace: config.namespace,
          podUid: config.uid,
          portMappings: config.portMappings,
          ...(config.dns ? { dns: config.dns } : {}),
          ...(config.cgroupParent ? { cgroupParent: config.cgroupParent } : {}),
          ...(launch.podCidrs.length > 0 ? { ipRanges: launch.podCidrs } : {}),
        },
        launch.ctx,
      );
      rec.netnsPath = net.netnsPath;
      rec.ips = [...net.ips];
      await launch.checkpoint();
    }
    // `network` is netns + CNI ADD + its record; the CNI isolator observes `netns` and `cni` themselves.
    launch.lap('network');
    const files = await this.deps.writeFiles(sandboxFilesDir(this.deps.roots, id), {
      hostname: config.hostname,
      ...(config.dns ? { dns: config.dns } : {}),
      ips: rec.ips,
      hostNetwork: rec.hostNetwork,
    });
    launch.lap('files');
    return { files };
  }

  async usage(sb: SandboxRecord): Promise<Partial<ResourceStatistics>> {
    if (sb.hostNetwork || sb.infraPid === undefined || !this.deps.infraAlive(sb)) return {};
    const network = await netnsInterfaces(sb.infraPid);
    return network ? { network } : {};
  }

  /** CNI DEL may be repeated. An orphan's network is its `recover`'s (the CNI isolator keeps its own records). */
  async cleanup(sb: IsolatedSandbox, ctx: Ctx): Promise<void> {
    if (sb.hostNetwork || sb.orphan) return;
    await this.deps.network.detach(sb.id, ctx);
  }
}
