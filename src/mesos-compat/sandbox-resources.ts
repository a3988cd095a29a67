import type { Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import type { Resources } from './launch-config';
import type { Core } from './core';
import { buildResources, type ResourceOptions } from './oci/resources';
import type { OciResources } from './oci/types';
import type { SandboxRecord } from './state';

/** `UpdatePodSandboxResources`: the pod's resources without its overhead, and the overhead apart (as kubelet sends them). */
export interface PodResources {
  readonly resources?: Resources;
  readonly overhead?: Resources;
}

const DEFAULT_PERIOD = 100_000;
const MAX_SHARES = 262_144;

/**
 * The pod cgroup's limits: `resources` plus `overhead`, the sum kubelet
 * itself writes into a pod cgroup. Memory and CPU quota add up (the
 * overhead's quota scaled to the pod's period); no limit stays no limit;
 * cpusets, hugepages and unified keys are the pod's. Both parts are
 * validated as UpdateContainerResources validates a container's.
 */
export function podLimits(p: PodResources, opts: ResourceOptions): OciResources {
  const r = buildResources(p.resources, opts);
  let o: OciResources;
  try {
    o = buildResources(p.overhead, opts);
  } catch (err) {
    // The checks name `resources.<field>`; say it was the overhead.
    throw new CriError('InvalidArgument', `failed to apply the pod overhead: ${(err as Error).message}`, { cause: err });
  }
  const out: OciResources = { ...r };
  if (r.memory?.limit !== undefined) {
    const extra = o.memory?.limit ?? 0;
    const limit = r.memory.limit + extra;
    const swap = r.memory.swap === undefined || r.memory.swap < 0 ? r.memory.swap : r.memory.swap === r.memory.limit ? limit : r.memory.swap + extra;
    out.memory = { ...r.memory, limit, ...(swap !== undefined ? { swap } : {}) };
  }
  if (r.cpu) {
    const cpu = { ...r.cpu };
    if (cpu.quota !== undefined && cpu.quota > 0 && o.cpu?.quota !== undefined && o.cpu.quota > 0) {
      cpu.quota += Math.ceil((o.cpu.quota * (cpu.period ?? DEFAULT_PERIOD)) / (o.cpu.period ?? DEFAULT_PERIOD));
    }
    if (cpu.shares !== undefined) cpu.shares = Math.min(MAX_SHARES, cpu.shares + (o.cpu?.shares ?? 0));
    out.cpu = cpu;
  }
  return out;
}

/**
 * Applies the limits to a running sandbox's pod cgroup and records them. A
 * stopped sandbox runs nothing: its new resources are recorded only.
 */
export async function updateSandboxResources(core: Core, sb: SandboxRecord, p: PodResources, ctx: Ctx): Promise<void> {
  const limits = podLimits(p, { hugetlb: core.deps.cgroups.has('hugetlb') });
  core.deps.cgroups.checkUnified(limits.unified);
  if (sb.phase === 'running') await core.isolators.update(sb, limits, ctx);
  sb.podResources = p;
  await core.saveSandbox(sb);
}
