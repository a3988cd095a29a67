/**
 * The lifecycle workload, identical for every runtime and driven only
 * through its CRI socket (as crictl or kubelet would): per pod a
 * host-network sandbox with one busybox `sleep` container, each RPC timed
 * on its own; teardown is StopContainer + RemoveContainer (timed together),
 * then StopPodSandbox + RemovePodSandbox.
 */
import { join } from 'node:path';
import { removePod, sandboxConfig, summarize, timed, type CriEndpoint, type Summary } from '../support/cri';

export type Phase = 'runPodSandbox' | 'createContainer' | 'startContainer' | 'stopRemoveContainer' | 'stopRemovePod';
export const PHASES: readonly Phase[] = ['runPodSandbox', 'createContainer', 'startContainer', 'stopRemoveContainer', 'stopRemovePod'];

export type Samples = Record<Phase, number[]>;
export const newSamples = (): Samples => ({ runPodSandbox: [], createContainer: [], startContainer: [], stopRemoveContainer: [], stopRemovePod: [] });

export interface WorkloadOptions {
  readonly cri: CriEndpoint;
  readonly image: string;
  /** A dir the runtime may write pod logs under. */
  readonly scratch: string;
  /** Distinguishes the pods of one phase from another's (names must be unique). */
  readonly prefix: string;
}

export interface BenchPod {
  readonly podId: string;
  readonly containerId: string;
}

/** RunPodSandbox, CreateContainer, StartContainer of one pod, each timed. */
export async function startPod(o: WorkloadOptions, i: number, s: Samples): Promise<BenchPod> {
  const name = `${o.prefix}-${i}`;
  const config = sandboxConfig({ name, logDir: join(o.scratch, 'pods', name) });
  const run = await timed(() => o.cri.runtime.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config }));
  const podId = run.value.pod_sandbox_id;
  try {
    const create = await timed(() =>
      o.cri.runtime.call<{ container_id: string }>('CreateContainer', {
        pod_sandbox_id: podId,
        config: { metadata: { name: 'c', attempt: 0 }, image: { image: o.image }, command: ['sleep', '100000'], log_path: 'c.log' },
        sandbox_config: config,
      }),
    );
    const containerId = create.value.container_id;
    const start = await timed(() => o.cri.runtime.call('StartContainer', { container_id: containerId }));
    s.runPodSandbox.push(run.ms);
    s.createContainer.push(create.ms);
    s.startContainer.push(start.ms);
    return { podId, containerId };
  } catch (err) {
    await removePod(o.cri, podId).catch(() => undefined);
    throw err;
  }
}

/** StopContainer (no grace period, as a benchmark wants) + RemoveContainer timed together, then the pod. */
export async function stopPod(o: WorkloadOptions, p: BenchPod, s: Samples): Promise<void> {
  const ctr = await timed(async () => {
    await o.cri.runtime.call('StopContainer', { container_id: p.containerId, timeout: '0' });
    await o.cri.runtime.call('RemoveContainer', { container_id: p.containerId });
  });
  s.stopRemoveContainer.push(ctr.ms);
  const pod = await timed(() => removePod(o.cri, p.podId));
  s.stopRemovePod.push(pod.ms);
}

export interface PhaseResult {
  readonly latencyMs: Partial<Record<Phase, Summary>>;
  /** Median of RunPodSandbox + CreateContainer + StartContainer, per pod. */
  readonly podStartMedianMs?: number;
  readonly failures: number;
  readonly errors: string[];
}

export function summarizeSamples(s: Samples, failures: number, errors: string[]): PhaseResult {
  const latencyMs: Partial<Record<Phase, Summary>> = {};
  for (const p of PHASES) if (s[p].length > 0) latencyMs[p] = summarize(s[p]);
  const n = Math.min(s.runPodSandbox.length, s.createContainer.length, s.startContainer.length);
  const perPod = Array.from({ length: n }, (_, i) => s.runPodSandbox[i]! + s.createContainer[i]! + s.startContainer[i]!);
  return { latencyMs, ...(n > 0 ? { podStartMedianMs: summarize(perPod).median } : {}), failures, errors: errors.slice(0, 5) };
}

/**
 * Runs `items` through `fn` with `workers` concurrent workers (a worker
 * pool, like N crictl processes in a loop). Failures are counted, not thrown.
 */
export async function pool<T, R>(items: readonly T[], workers: number, fn: (item: T) => Promise<R>): Promise<{ results: R[]; errors: string[] }> {
  const results: R[] = [];
  const errors: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(workers, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        try {
          results.push(await fn(item));
        } catch (err) {
          errors.push(err instanceof Error ? err.message : String(err));
        }
      }
    }),
  );
  return { results, errors };
}
