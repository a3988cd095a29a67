import type { ResourceStatistics } from '../containerizer';
import type { OciResources } from '../oci/types';
import type { SandboxRecord } from '../state';
import type { Cgroups } from './cgroups';
import type { IsolatedSandbox, Isolator, SandboxLaunch, SandboxLaunchInfo } from './isolator';

/** The infra process's own cgroup in the pod's (`<pod>/<id>`, or a scope with the systemd driver). */
export const infraCgroupOf = (cgroups: Pick<Cgroups, 'childPath'>, sb: Pick<SandboxRecord, 'podCgroup' | 'id'>): string => cgroups.childPath(sb.podCgroup, sb.id);

/**
 * The cgroups isolator of pod sandboxes (Mesos `cgroups/*`), over `Cgroups`:
 * `prepare` creates the infra process's cgroup (the infra helper joins its
 * directories itself at start); `cleanup` kills whatever is left in it (an
 * infra process started by a daemon that died before it could record the
 * pid) and removes it.
 *
 * `update` writes a running sandbox's pod-level limits
 * (UpdatePodSandboxResources) and `usage` reads the pod cgroup (stats).
 *
 * NOTE: The pod's cgroup is not cleaned up here: it outlives a stopped
 * sandbox and goes with RemovePodSandbox.
 */
export class SandboxCgroupsIsolator implements Isolator {
  readonly name = 'cgroups';

  constructor(
    private readonly cgroups: Pick<Cgroups, 'create' | 'killAll' | 'remove' | 'childPath' | 'applyLimits' | 'usage'>,
    private readonly now: () => bigint,
  ) {}

  async prepare(launch: SandboxLaunch): Promise<SandboxLaunchInfo> {
    return { cgroupDirs: await this.cgroups.create(infraCgroupOf(this.cgroups, launch.rec)) };
  }

  async update(sb: SandboxRecord, limits: OciResources): Promise<void> {
    this.cgroups.applyLimits(sb.podCgroup, limits);
  }

  async usage(sb: SandboxRecord): Promise<Partial<ResourceStatistics>> {
    return this.cgroups.usage(sb.podCgroup, this.now());
  }

  async cleanup(sb: IsolatedSandbox): Promise<void> {
    const infra = infraCgroupOf(this.cgroups, sb);
    await this.cgroups.killAll(infra);
    await this.cgroups.remove(infra);
  }
}
