/**
 * The ops bench's workload, identical for both runtimes and driven only
 * through one persistent CRI client (as kubelet holds one): per pod a
 * host-network sandbox with one busybox `sleep`, each RPC timed on its own,
 * plus the per-pod and node-wide reads kubelet makes while pods come and go.
 */
import { join } from 'node:path';
import { sandboxConfig } from '../support/cri';
import type { PodCgroups } from './pod-cgroups';
import type { Recorder } from './recorder';

export interface PodRef {
  readonly podId: string;
  readonly containerId: string;
  /** CreateContainer + StartContainer, wall ms (the container's share of its lifecycle). */
  readonly containerStartMs?: number;
  /** RunPodSandbox + CreateContainer + StartContainer, wall ms. */
  readonly podStartMs?: number;
  /** The pod's `cgroup_parent`, made before RunPodSandbox and removed after RemovePodSandbox (untimed). */
  readonly cgroup: string;
}

export interface WorkloadOptions {
  readonly rec: Recorder;
  readonly image: string;
  /** A dir the runtime may write pod logs under. */
  readonly scratch: string;
  /** Unique per phase (pod names must not repeat). */
  readonly prefix: string;
  readonly cgroups: PodCgroups;
}

const round = (v: number): number => Math.round(v * 100) / 100;
const elapsedMs = (t0: bigint): number => round(Number(process.hrtime.bigint() - t0) / 1e6);

/** RunPodSandbox, CreateContainer, StartContainer; `podStart` is their sum (one pod's start, wall). */
export async function startPod(o: WorkloadOptions, i: number): Promise<PodRef> {
  const name = `${o.prefix}-${i}`;
  const config = sandboxConfig({ name, logDir: join(o.scratch, 'pods', name) }) as { metadata: { uid: string }; linux: Record<string, unknown> };
  const cgroup = o.cgroups.make(config.metadata.uid);
  config.linux.cgroup_parent = cgroup;
  const t0 = process.hrtime.bigint();
  let podId: string;
  try {
    podId = (await o.rec.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config })).pod_sandbox_id;
  } catch (err) {
    await o.cgroups.remove(cgroup);
    throw err;
  }
  try {
    const t1 = process.hrtime.bigint();
    const { container_id: containerId } = await o.rec.runtime<{ container_id: string }>('CreateContainer', {
      pod_sandbox_id: podId,
      config: { metadata: { name: 'c', attempt: 0 }, image: { image: o.image }, command: ['sleep', '100000'], log_path: 'c.log' },
      sandbox_config: config,
    });
    await o.rec.runtime('StartContainer', { container_id: containerId });
    const podStartMs = elapsedMs(t0);
    o.rec.add('lifecycle:podStart', podStartMs);
    return { podId, containerId, containerStartMs: elapsedMs(t1), podStartMs, cgroup };
  } catch (err) {
    await teardownPod(o, { podId, containerId: '', cgroup }, false).catch(() => undefined);
    throw err;
  }
}

/**
 * StopContainer (no grace period) and RemoveContainer, then StopPodSandbox
 * and RemovePodSandbox; `podTeardown` is their sum. `record: false` leaves
 * the samples out (cleanup after a failure).
 */
export async function teardownPod(o: WorkloadOptions, p: PodRef, record = true): Promise<void> {
  const t0 = process.hrtime.bigint();
  if (p.containerId) {
    await o.rec.runtime('StopContainer', { container_id: p.containerId, timeout: '0' });
    await o.rec.runtime('RemoveContainer', { container_id: p.containerId });
    const ms = elapsedMs(t0);
    if (record) o.rec.add('lifecycle:containerStopRemove', ms);
    // Create + Start + Stop + Remove of one container.
    if (record && p.containerStartMs !== undefined) o.rec.add('lifecycle:container', round(p.containerStartMs + ms));
  }
  await o.rec.runtime('StopPodSandbox', { pod_sandbox_id: p.podId });
  await o.rec.runtime('RemovePodSandbox', { pod_sandbox_id: p.podId });
  const down = elapsedMs(t0);
  await o.cgroups.remove(p.cgroup);
  if (record) o.rec.add('lifecycle:podTeardown', down);
  // The whole pod: start, then teardown (reads in between are not counted).
  if (record && p.podStartMs !== undefined) o.rec.add('lifecycle:pod', round(p.podStartMs + down));
}

/** What kubelet asks about one running pod: status, stats, exec and streaming URLs, resources, logs. */
export async function podReads(o: WorkloadOptions, p: PodRef): Promise<void> {
  await each(o.rec, podCalls(p));
}

/** The RPCs (and requests) of `podReads`. */
function podCalls(p: PodRef): ReadonlyArray<readonly [string, object]> {
  return [
    ['PodSandboxStatus', { pod_sandbox_id: p.podId }],
    ['ContainerStatus', { container_id: p.containerId }],
    ['ContainerStats', { container_id: p.containerId }],
    ['PodSandboxStats', { pod_sandbox_id: p.podId }],
    ['ExecSync', { container_id: p.containerId, cmd: ['true'], timeout: 10 }],
    ['Exec', { container_id: p.containerId, cmd: ['true'], stdout: true, stderr: true }],
    ['Attach', { container_id: p.containerId, stdout: true, stderr: true }],
    ['PortForward', { pod_sandbox_id: p.podId, port: [80] }],
    ['UpdateContainerResources', { container_id: p.containerId, linux: { cpu_shares: '512', memory_limit_in_bytes: String(256 << 20) } }],
    ['ReopenContainerLog', { container_id: p.containerId }],
  ];
}

/** The RPCs of `podReads` that start a process: ExecSync's command, UpdateContainerResources' runtime update. */
const STARTS_PROCESS = new Set(['ExecSync', 'UpdateContainerResources']);

/**
 * What kubelet asks of a node at rest, `rounds` times: its PLEG relist,
 * status and summary reads and one running pod's status, stats and
 * streaming URLs, one after the other (ExecSync and resource updates, which
 * start processes, once in ten rounds). A daemon kubelet has been polling
 * for a few minutes has served thousands of these: the warm-up brings a
 * runtime whose code is compiled as it runs (ours, on V8) to that state
 * before anything is measured; it changes nothing for a compiled one.
 */
export async function steadyReads(o: WorkloadOptions, p: PodRef, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await nodeReads(o);
    await each(
      o.rec,
      podCalls(p).filter(([rpc]) => i % 10 === 0 || !STARTS_PROCESS.has(rpc)),
    );
  }
}

/** Runtime RPCs one after the other; a failure is recorded and the rest still run. */
async function each(r: Recorder, calls: ReadonlyArray<readonly [string, object]>): Promise<void> {
  for (const [rpc, req] of calls) await r.runtime(rpc, req, 20_000).catch(() => undefined);
}

/** Node-wide reads (kubelet's PLEG relists, summary API, image GC, node status). */
export async function nodeReads(o: WorkloadOptions): Promise<void> {
  const r = o.rec;
  await each(r, [['ListPodSandbox', {}], ['ListContainers', {}], ['ListContainerStats', {}], ['ListPodSandboxStats', {}], ['Version', {}], ['Status', {}]]);
  await r.image('ImageStatus', { image: { image: o.image } }).catch(() => undefined);
  await r.image('ListImages', {}).catch(() => undefined);
  await r.image('ImageFsInfo', {}).catch(() => undefined);
}

/**
 * Runs `items` through `fn` with `workers` concurrent workers (like N
 * kubelet goroutines on one connection). Failures are counted, not thrown.
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
          errors.push((err instanceof Error ? err.message : String(err)).slice(0, 500));
        }
      }
    }),
  );
  return { results, errors };
}
