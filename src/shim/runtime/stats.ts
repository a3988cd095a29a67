import { topLevel } from '../../common/container-id';
import type { Ctx } from '../../common/ctx';
import { isCriError } from '../../common/errors';
import type { Containerizer, ContainerStatus, SandboxStatus } from '../../mesos-compat/containerizer';
import type { ShimDeps } from '../deps';
import { containerStats, podSandboxStats, type CpuRates } from '../translate/stats';
import type { ContainerStats } from '../../../cri/generated/runtime/v1/ContainerStats';
import type { PodSandboxStats } from '../../../cri/generated/runtime/v1/PodSandboxStats';

/** Shared by the four stats RPCs: usage of one container or pod, translated. */
export class StatsCollector {
  constructor(
    private readonly deps: ShimDeps,
    private readonly rates: CpuRates,
  ) {}

  async container(cz: Containerizer, c: ContainerStatus, ctx: Ctx): Promise<ContainerStats | undefined> {
    const id = cz.lookup(c.id);
    if (!id) return undefined;
    try {
      return containerStats(c, await cz.usage(id, ctx), this.rates, this.deps.config.workDir);
    } catch (err) {
      // Removed between listing and reading: not an error for a list.
      if (isCriError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  async sandbox(cz: Containerizer, s: SandboxStatus, ctx: Ctx): Promise<PodSandboxStats | undefined> {
    const members = cz.containers().filter((c): c is ContainerStatus => c.kind === 'container' && c.sandboxId === s.id && c.state === 'running');
    const containers: ContainerStats[] = [];
    for (const c of members) {
      const st = await this.container(cz, c, ctx);
      if (st) containers.push(st);
    }
    try {
      return podSandboxStats(s, await cz.usage(topLevel(s.id), ctx), containers, this.rates);
    } catch (err) {
      if (isCriError(err, 'NotFound')) return undefined;
      throw err;
    }
  }
}
