import { topLevel } from '../../common/container-id';
import type { Ctx } from '../../common/ctx';
import { isCriError } from '../../common/errors';
import type { Containerizer, ContainerStatus, SandboxStatus } from '../../mesos-compat/containerizer';
import type { ShimDeps } from '../deps';
import { containerStats, podSandboxStats, type CpuRates } from '../translate/stats';
import type { ContainerStats } from '../../../cri/generated/runtime/v1/ContainerStats';
import type { PodSandboxStats } from '../../../cri/generated/runtime/v1/PodSandboxStats';

/**
 * Reads in flight at once for a list. Each container's usage is a few
 * cgroupfs reads plus its (cached) writable-layer size, so a handful keeps
 * the thread pool busy without letting one list flood it.
 */
const LIST_CONCURRENCY = 8;

/** `fn` over `items`, at most `limit` at a time, results in input order (undefined ones dropped). */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R | undefined>): Promise<R[]> {
  const out = new Array<R | undefined>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out.filter((r): r is R => r !== undefined);
}

/** Running containers by sandbox id, built once per list call (not once per sandbox). */
export function runningBySandbox(cz: Containerizer): Map<string, ContainerStatus[]> {
  const out = new Map<string, ContainerStatus[]>();
  for (const c of cz.containers({ kind: 'container' })) {
    if (c.state !== 'running') continue;
    let list = out.get(c.sandboxId);
    if (!list) out.set(c.sandboxId, (list = []));
    list.push(c);
  }
  return out;
}

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

  /** `members`: the sandbox's running containers when the caller already has them (a list). */
  async sandbox(cz: Containerizer, s: SandboxStatus, ctx: Ctx, members?: readonly ContainerStatus[]): Promise<PodSandboxStats | undefined> {
    const mine = members ?? cz.containers({ kind: 'container', sandboxId: s.id }).filter((c) => c.state === 'running');
    const containers = await mapBounded(mine, LIST_CONCURRENCY, (c) => this.container(cz, c, ctx));
    try {
      return podSandboxStats(s, await cz.usage(topLevel(s.id), ctx), containers, this.rates);
    } catch (err) {
      if (isCriError(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /** Stats of many containers, read with bounded concurrency, in list order. */
  containers(cz: Containerizer, list: readonly ContainerStatus[], ctx: Ctx): Promise<ContainerStats[]> {
    return mapBounded(list, LIST_CONCURRENCY, (c) => this.container(cz, c, ctx));
  }

  /** Stats of many sandboxes: members are indexed once, sandboxes read with bounded concurrency. */
  sandboxes(cz: Containerizer, list: readonly SandboxStatus[], ctx: Ctx): Promise<PodSandboxStats[]> {
    const running = runningBySandbox(cz);
    // Each sandbox already reads its own members in parallel: fewer sandboxes at once.
    return mapBounded(list, Math.max(1, LIST_CONCURRENCY / 2), (s) => this.sandbox(cz, s, ctx, running.get(s.id) ?? []));
  }
}
