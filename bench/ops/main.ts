/**
 * Every CRI operation, measured the way kubelet calls a runtime: one
 * persistent gRPC client per runtime, N calls in flight (default 4), on
 * mesos-cri and the reference containerd 1.6 in the same run (one after the
 * other, each with the whole machine). Prints one JSON document: per
 * operation median and p99 on both runtimes and `ours/containerd`, the wall
 * time of pod and container lifecycles, the node-wide reads at `scale` pods,
 * the runtime's memory as pods are added (the curve) and after churn.
 *
 *   npx tsc -p tsconfig.json
 *   node dist/bench/ops/main.js [--pods 40] [--parallel 4] [--scale 100] [--rounds 20]
 *                               [--churn 0] [--warm 150] [--only mesos-cri|containerd]
 *
 * Phases per runtime: warm-up (2 pods, and `warm` rounds of the reads
 * kubelet makes of a node at rest, ~2,700 RPCs at 150: a few minutes of
 * kubelet's polling, so a runtime is measured as a node runs it, not
 * straight after its start), lifecycle (`pods` pods by
 * `parallel` workers: start, per-pod reads, node-wide reads, then teardown),
 * images (pull of a present image, pull and remove of another), scale
 * (`scale` pods alive, each list `rounds` times, one at a time, then
 * `churn` pods replaced). Exits 1 if a mesos-cri measurement failed.
 */
import { cpus, release } from 'node:os';
import { buildImage, buildLayer, pushBusybox, pushImage } from '../../e2e/support/images';
import { startRegistry, type TestRegistry } from '../../e2e/support/registry';
import { connect, memoryOf, mib, pullImage, ratio, rssKiB } from '../support/cri';
import { pushPause } from '../support/pause-image';
import { startTarget, type Target, type TargetName } from '../support/targets';
import { PodCgroups } from './pod-cgroups';
import { Recorder, type OpSummary } from './recorder';
import { nodeReads, podReads, pool, startPod, steadyReads, teardownPod, type PodRef, type WorkloadOptions } from './workload';

interface Params {
  readonly pods: number;
  readonly parallel: number;
  readonly scale: number;
  readonly rounds: number;
  readonly churn: number;
  /** Rounds of a node's reads at rest before anything is measured (`steadyReads`). */
  readonly warm: number;
  readonly targets: readonly TargetName[];
}

interface MemoryPoint {
  readonly pods: number;
  /** The daemon process alone (mesos-cri's node process, containerd). */
  readonly daemonRssMiB: number;
  /** Daemon plus per-pod helpers (our conmons; containerd's shims). */
  readonly runtimeRssMiB: number;
  readonly runtimePssMiB: number;
}

interface TargetResult {
  ops?: Record<string, OpSummary>;
  lifecycleWallMs?: number;
  unimplemented?: string[];
  scale?: {
    pods: number;
    startWallMs: number;
    ops: Record<string, OpSummary>;
    memory: MemoryPoint[];
    /** (runtime RSS at `scale` pods − idle) / `scale`. */
    perPodRuntimeRssMiB?: number;
    perPodRuntimePssMiB?: number;
    afterChurn?: MemoryPoint;
    afterTeardown?: MemoryPoint;
  };
  errors: Record<string, string>;
}

const note = (msg: string): void => void process.stderr.write(`[bench/ops] ${msg}\n`);
const describeErr = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

async function step<T>(r: TargetResult, name: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    r.errors[name] = describeErr(err);
    note(`${name} failed: ${r.errors[name]}`);
    return undefined;
  }
}

function memoryPoint(target: Target, pods: number): MemoryPoint {
  const all = memoryOf(target.runtimePids());
  return { pods, daemonRssMiB: mib(rssKiB(target.daemonPid)), runtimeRssMiB: mib(all.rssKiB), runtimePssMiB: mib(all.pssKiB) };
}

/** Memory once helpers of removed pods have exited (they go asynchronously). */
async function settledMemory(target: Target, pods: number): Promise<MemoryPoint> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const n = target.runtimePids().length;
    if (n === last) break;
    last = n;
    await new Promise((r) => setTimeout(r, 100));
  }
  return memoryPoint(target, pods);
}

async function lifecyclePhase(o: WorkloadOptions, p: Params, r: TargetResult): Promise<void> {
  const t0 = Date.now();
  const started = await pool(
    Array.from({ length: p.pods }, (_, i) => i),
    p.parallel,
    async (i) => {
      const pod = await startPod(o, i);
      await podReads(o, pod).catch(() => undefined); // failures are in the recorder
      await nodeReads(o).catch(() => undefined);
      return pod;
    },
  );
  const stopped = await pool(started.results, p.parallel, (pod) => teardownPod(o, pod));
  r.lifecycleWallMs = Date.now() - t0;
  const errors = [...started.errors, ...stopped.errors];
  if (errors.length > 0) r.errors.lifecycle = `${errors.length} pods failed; first: ${errors[0]}`;
}

async function imagePhase(o: WorkloadOptions, p: Params, spare: string): Promise<void> {
  for (let i = 0; i < Math.max(3, Math.round(p.rounds / 2)); i++) {
    await o.rec.image('PullImage', { image: { image: o.image } }, 120_000); // present: the fast path kubelet takes
    const cri = o.rec.cri;
    await o.rec.time('PullImage:absent', () => cri.image.call('PullImage', { image: { image: spare } }, 120_000)).catch(() => undefined);
    await o.rec.image('RemoveImage', { image: { image: spare } }).catch(() => undefined);
  }
}

async function scalePhase(target: Target, o: WorkloadOptions, p: Params, r: TargetResult, idle: MemoryPoint): Promise<void> {
  const memory: MemoryPoint[] = [idle];
  const pods: PodRef[] = [];
  const quarter = Math.max(1, Math.ceil(p.scale / 4));
  const t0 = Date.now();
  const errors: string[] = [];
  for (let from = 0; from < p.scale; from += quarter) {
    const batch = Array.from({ length: Math.min(quarter, p.scale - from) }, (_, k) => from + k);
    const res = await pool(batch, p.parallel, (i) => startPod(o, i));
    pods.push(...res.results);
    errors.push(...res.errors);
    memory.push(memoryPoint(target, pods.length));
  }
  const startWallMs = Date.now() - t0;
  note(`${target.name}: ${pods.length} pods alive; lists ×${p.rounds}`);
  const lists = new Recorder(target.cri);
  const lo: WorkloadOptions = { ...o, rec: lists };
  for (let i = 0; i < p.rounds; i++) {
    for (const rpc of ['ListPodSandbox', 'ListContainers', 'ListContainerStats', 'ListPodSandboxStats']) {
      await lists.runtime(rpc, {}).catch(() => undefined);
    }
  }
  await nodeReads(lo).catch(() => undefined);
  let afterChurn: MemoryPoint | undefined;
  if (p.churn > 0) {
    note(`${target.name}: churning ${p.churn} pods`);
    await pool(
      Array.from({ length: p.churn }, (_, i) => i),
      p.parallel,
      async (i) => {
        const old = pods[i % pods.length];
        if (old) await teardownPod(o, old, false);
        pods[i % pods.length] = await startPod({ ...o, prefix: `${o.prefix}-churn` }, i);
      },
    );
    afterChurn = await settledMemory(target, pods.length);
  }
  const stopped = await pool(pods, p.parallel, (pod) => teardownPod(o, pod, false));
  errors.push(...stopped.errors);
  const afterTeardown = await settledMemory(target, 0);
  const top = memory[memory.length - 1]!;
  r.scale = {
    pods: pods.length,
    startWallMs,
    ops: lists.summary(),
    memory,
    ...(top.pods > 0
      ? {
          perPodRuntimeRssMiB: Math.round(((top.runtimeRssMiB - idle.runtimeRssMiB) / top.pods) * 100) / 100,
          perPodRuntimePssMiB: Math.round(((top.runtimePssMiB - idle.runtimePssMiB) / top.pods) * 100) / 100,
        }
      : {}),
    ...(afterChurn ? { afterChurn } : {}),
    afterTeardown,
  };
  if (errors.length > 0) r.errors.scale = `${errors.length} failed; first: ${errors[0]}`;
}

async function benchTarget(name: TargetName, p: Params, refs: { registry: TestRegistry; busybox: string; pause: string; spare: string }): Promise<TargetResult> {
  const r: TargetResult = { errors: {} };
  note(`${name}: starting`);
  const target = await step(r, 'start', () => startTarget(name, { registry: refs.registry, pauseRef: refs.pause }));
  if (!target) return r;
  // One persistent client for everything measured (the target's own is kept for its teardown).
  const cri = connect(target.socket);
  const cgroups = new PodCgroups(`mcri-ops-${process.pid}-${name}`);
  try {
    if (!(await step(r, 'pullImage', () => pullImage(cri, refs.busybox)))) return r;
    const rec = new Recorder(cri);
    const o = (prefix: string, recorder = rec): WorkloadOptions => ({ rec: recorder, image: refs.busybox, scratch: target.scratch, prefix, cgroups });
    await step(r, 'warmup', async () => {
      const w = o('warmup', new Recorder(cri));
      for (let i = 0; i < 2; i++) {
        const pod = await startPod(w, i);
        await podReads(w, pod);
        await nodeReads(w);
        if (i === 0) await steadyReads(w, pod, p.warm);
        await teardownPod(w, pod);
      }
    });
    const idle = await settledMemory(target, 0);
    note(`${name}: lifecycle of ${p.pods} pods, ${p.parallel} in parallel`);
    await step(r, 'lifecycle', () => lifecyclePhase(o('ops'), p, r));
    note(`${name}: images`);
    await step(r, 'images', () => imagePhase(o('img'), p, refs.spare));
    await optionalOps(rec);
    r.ops = rec.summary();
    r.unimplemented = [...rec.unimplemented];
    if (p.scale > 0) {
      note(`${name}: scale to ${p.scale} pods`);
      await step(r, 'scale', () => scalePhase(target, o('scale', new Recorder(cri)), p, r, idle));
    }
  } finally {
    cri.close();
    await step(r, 'stop', () => target.stop());
    await step(r, 'podCgroups', async () => {
      const left = await cgroups.removeAll();
      if (left.length > 0) throw new Error(`failed to remove pod cgroups: ${left.join(', ')}`);
    });
  }
  return r;
}

/** RPCs newer than containerd 1.6 (it answers UNIMPLEMENTED): measured where they exist. */
async function optionalOps(rec: Recorder): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await rec.optional('ListMetricDescriptors', {});
    await rec.optional('ListPodSandboxMetrics', {});
    await rec.optional('RuntimeConfig', {});
  }
}

function parseArgs(argv: readonly string[]): Params {
  const get = (flag: string, d: number): number => {
    const i = argv.indexOf(flag);
    const v = i >= 0 ? Number(argv[i + 1]) : d;
    if (!Number.isInteger(v) || v < 0) throw new Error(`${flag} wants a non-negative integer`);
    return v;
  };
  const i = argv.indexOf('--only');
  const only = i >= 0 ? argv[i + 1] : undefined;
  if (only !== undefined && only !== 'mesos-cri' && only !== 'containerd') throw new Error('--only wants mesos-cri or containerd');
  return {
    pods: get('--pods', 40),
    parallel: Math.max(1, get('--parallel', 4)),
    scale: get('--scale', 100),
    rounds: Math.max(1, get('--rounds', 20)),
    churn: get('--churn', 0),
    warm: get('--warm', 150),
    targets: only ? [only] : ['containerd', 'mesos-cri'],
  };
}

function compare(ours: TargetResult | undefined, ref: TargetResult | undefined): Record<string, { ours?: number; containerd?: number; ratio?: number; atOrBelow?: boolean }> {
  const out: Record<string, { ours?: number; containerd?: number; ratio?: number; atOrBelow?: boolean }> = {};
  const add = (key: string, a: OpSummary | undefined, b: OpSummary | undefined): void => {
    const x = a && a.n > 0 ? a.median : undefined;
    const y = b && b.n > 0 ? b.median : undefined;
    if (x === undefined && y === undefined) return;
    out[key] = { ours: x, containerd: y, ratio: ratio(x, y), ...(x !== undefined && y !== undefined ? { atOrBelow: x <= y } : {}) };
  };
  for (const k of new Set([...Object.keys(ours?.ops ?? {}), ...Object.keys(ref?.ops ?? {})])) add(k, ours?.ops?.[k], ref?.ops?.[k]);
  for (const k of new Set([...Object.keys(ours?.scale?.ops ?? {}), ...Object.keys(ref?.scale?.ops ?? {})])) add(`scale:${k}`, ours?.scale?.ops[k], ref?.scale?.ops[k]);
  return out;
}

async function main(): Promise<number> {
  const p = parseArgs(process.argv.slice(2));
  const results: Partial<Record<TargetName, TargetResult>> = {};
  const registry = await startRegistry();
  try {
    const busybox = (await pushBusybox(registry, 'bench/busybox:1')).ref;
    const pause = await pushPause(registry);
    const layer = await buildLayer([{ name: 'hello', content: Buffer.from('hello\n'), mode: 0o644 }]);
    const spare = (await pushImage(registry, 'bench/spare:1', buildImage([layer], { cmd: ['/hello'] }))).ref;
    for (const name of p.targets) results[name] = await benchTarget(name, p, { registry, busybox, pause, spare });
  } finally {
    await registry.stop();
  }
  const ours = results['mesos-cri'];
  const ref = results.containerd;
  const comparison = compare(ours, ref);
  const slower = Object.entries(comparison).filter(([, v]) => v.atOrBelow === false).map(([k]) => k);
  const pod = comparison['lifecycle:pod'];
  const ctr = comparison['lifecycle:container'];
  const doc = {
    bench: 'ops',
    host: { cpus: cpus().length, kernel: release(), node: process.version },
    params: p,
    results,
    // Medians; `ratio` is ours/containerd (below 1 is better).
    comparison,
    summary: {
      slowerThanContainerd: slower,
      podLifecycleAtMostHalf: pod?.ratio === undefined ? undefined : pod.ratio <= 0.5,
      containerLifecycleAtMostHalf: ctr?.ratio === undefined ? undefined : ctr.ratio <= 0.5,
      memoryPerPodRssRatio: ratio(ours?.scale?.perPodRuntimeRssMiB, ref?.scale?.perPodRuntimeRssMiB),
    },
  };
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  // The reference's own failures are reported, not fatal.
  const failed = ours !== undefined && Object.keys(ours.errors).length > 0;
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${describeErr(err)}\n`);
    process.exit(1);
  },
);
