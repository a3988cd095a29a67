import { readFile } from 'node:fs/promises';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import type { Resources } from '../launch-config';
import type { OciResources } from './types';

/**
 * CRI `LinuxContainerResources` → OCI `linux.resources` (containerd
 * `WithResources`). Zero means "not set" for every CRI field, so zeros are
 * left out and the cgroup keeps the kernel's (or the parent's) value.
 */

const toNumber = (v: bigint, field: string): number => {
  if (v < 0n) throw new CriError('InvalidArgument', `failed to apply resources.${field}: negative value ${v}`);
  return Number(v);
};

export interface ResourceOptions {
  /**
   * Whether the hugetlb controller can limit this container. Without it,
   * hugepage limits are dropped rather than failing the container: kubelet
   * sends a limit (0 unless asked) for every page size the node has, with
   * every container, and containerd drops them the same way by default
   * (`tolerate_missing_hugetlb_controller`).
   */
  readonly hugetlb: boolean;
}

export function buildResources(r: Resources | undefined, opts: ResourceOptions): OciResources {
  const out: OciResources = {};
  if (!r) return out;
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.cpuShares !== 0n) cpu.shares = toNumber(r.cpuShares, 'cpu_shares');
  // A negative quota is cgroup v1's "unlimited", which containerd passes through.
  if (r.cpuQuota !== 0n) cpu.quota = Number(r.cpuQuota);
  if (r.cpuPeriod !== 0n) cpu.period = toNumber(r.cpuPeriod, 'cpu_period');
  if (r.cpusetCpus !== '') cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems !== '') cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  if (r.memoryLimitBytes !== 0n) {
    const limit = toNumber(r.memoryLimitBytes, 'memory_limit_in_bytes');
    // Swap must be at least the limit; equal to it means "no swap", containerd's default.
    const swap = r.memorySwapLimitBytes !== 0n ? Number(r.memorySwapLimitBytes) : limit;
    if (swap >= 0 && swap < limit) {
      throw new CriError('InvalidArgument', `failed to apply resources.memory_swap_limit_in_bytes: ${swap} is below memory_limit_in_bytes ${limit}`);
    }
    out.memory = { limit, swap };
  }
  const hugepageLimits = r.hugepageLimits.map((h, i) => {
    if (!/^\d+(KB|MB|GB|TB|PB)$/.test(h.pageSize)) {
      throw new CriError('InvalidArgument', `failed to apply resources.hugepage_limits[${i}].page_size "${h.pageSize}"`);
    }
    return { pageSize: h.pageSize, limit: toNumber(h.limit, `hugepage_limits[${i}].limit`) };
  });
  if (hugepageLimits.length > 0 && opts.hugetlb) out.hugepageLimits = hugepageLimits;
  if (Object.keys(r.unified).length > 0) out.unified = { ...r.unified };
  return out;
}

/**
 * The process's `oom_score_adj`: what was asked, but never below `floor`.
 * Lowering it below our own value needs CAP_SYS_RESOURCE, which this host's
 * bounding set lacks; runc then fails with EIO and "can't get final child's
 * PID from pipe". containerd's `restrict_oom_score_adj` clamps the same way.
 */
export function clampOomScoreAdj(requested: number, floor: number): number {
  const bounded = Math.max(-1000, Math.min(1000, Math.trunc(requested)));
  return Math.max(bounded, floor);
}

/** This process's own `oom_score_adj`: the floor to pass to the spec builders. */
export async function ownOomScoreAdj(ctx: Ctx): Promise<number> {
  const text = await readFile('/proc/self/oom_score_adj', { encoding: 'utf8', signal: ctx.signal });
  const n = Number(text.trim());
  return Number.isInteger(n) ? n : 0;
}
