/**
 * Lifecycle benchmark, through the CRI sockets of mesos-cri and of the
 * reference containerd 1.6, in the same run (one after the other, each with
 * the whole machine): median and p99 of RunPodSandbox, CreateContainer,
 * StartContainer and StopContainer+RemoveContainer over N pods started
 * sequentially, then N pods started by C concurrent clients (pods/s);
 * runtime-side memory per pod (daemon plus its per-pod helpers: our conmons,
 * containerd's shims; PSS and RSS) with the N sequential pods running; the
 * runtime's idle memory; and the CNI attach/detach latency of our isolator.
 * Images come from a docker-registry on loopback started here. Prints one
 * JSON document with both results, `ours/containerd` ratios and the issue's
 * targets; exits 1 if a measurement failed (the JSON says which and why).
 *
 * Without npm:
 *
 *   npx tsc -p tsconfig.json     # or: npm run build
 *   node dist/bench/lifecycle/main.js [pods=50] [clients=10] [only=mesos-cri|containerd]
 */
import { cpus, release } from 'node:os';
import { benchCniAttachDetach, type CniBenchResult } from '../cni/attach-detach';
import { pushBusybox } from '../../e2e/support/images';
import { startRegistry, type TestRegistry } from '../../e2e/support/registry';
import { memoryOf, mib, pullImage, ratio } from '../support/cri';
import { hostBusyCpuMs, processCpuMs } from '../support/host';
import { pushPause } from '../support/pause-image';
import { startTarget, type Target, type TargetName } from '../support/targets';
import { newSamples, pool, startPod, stopPod, summarizeSamples, type BenchPod, type PhaseResult, type WorkloadOptions } from './workload';

interface Params {
  readonly pods: number;
  readonly clients: number;
  readonly targets: readonly TargetName[];
}

interface MemoryMiB {
  readonly pids: number;
  readonly rssMiB: number;
  readonly pssMiB: number;
}

interface TargetResult {
  sequential?: PhaseResult;
  concurrent?: PhaseResult & {
    wallMs: number;
    podsPerSecond: number;
    /** Busy CPU of the whole host (runtime, runc, the bench's client) per started pod. */
    hostCpuMsPerPod: number;
    /** CPU of the runtime's own processes (daemon, helpers, monitors or shims; not runc) per started pod. */
    runtimeCpuMsPerPod: number;
    /** CPU of this benchmark's own client per started pod (part of the host's). */
    clientCpuMsPerPod: number;
  };
  /** Runtime processes right after start, before any pull or pod. */
  idleAtStart?: MemoryMiB;
  /** Runtime processes (daemon + helpers) with no pod, after a pull and a warm-up (the target's "idle"). */
  idle?: MemoryMiB;
  /** The same with the N sequential pods running. */
  withPods?: MemoryMiB;
  /** (withPods - idle) / N: what one more pod costs on the runtime side. */
  perPod?: { rssMiB: number; pssMiB: number };
  errors: Record<string, string>;
}

const note = (msg: string): void => void process.stderr.write(`[bench/lifecycle] ${msg}\n`);
const describeErr = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 2000);
const toMiB = (m: { pids: number; rssKiB: number; pssKiB: number }): MemoryMiB => ({ pids: m.pids, rssMiB: mib(m.rssKiB), pssMiB: mib(m.pssKiB) });

async function step<T>(r: TargetResult, name: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    r.errors[name] = describeErr(err);
    note(`${name} failed: ${r.errors[name]}`);
    return undefined;
  }
}

/** Memory after helpers of removed pods have exited (they go asynchronously). */
async function settledMemory(target: Target): Promise<MemoryMiB> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const n = target.runtimePids().length;
    if (n === last) break;
    last = n;
    await new Promise((r) => setTimeout(r, 100));
  }
  return toMiB(memoryOf(target.runtimePids()));
}

async function sequentialPhase(o: WorkloadOptions, p: Params, r: TargetResult, target: Target): Promise<void> {
  const s = newSamples();
  const pods: BenchPod[] = [];
  const errors: string[] = [];
  for (let i = 0; i < p.pods; i++) {
    try {
      pods.push(await startPod(o, i, s));
    } catch (err) {
      errors.push(describeErr(err));
    }
  }
  r.withPods = toMiB(memoryOf(target.runtimePids()));
  for (const pod of pods) {
    try {
      await stopPod(o, pod, s);
    } catch (err) {
      errors.push(describeErr(err));
    }
  }
  r.sequential = summarizeSamples(s, errors.length, errors);
}

async function concurrentPhase(o: WorkloadOptions, p: Params, r: TargetResult, target: Target): Promise<void> {
  const s = newSamples();
  const runtime0 = processCpuMs(target.runtimePids());
  const cpu0 = hostBusyCpuMs();
  const client0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const started = await pool(
    Array.from({ length: p.pods }, (_, i) => i),
    p.clients,
    (i) => startPod(o, i, s),
  );
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpuMs = hostBusyCpuMs() - cpu0;
  const client = process.cpuUsage(client0);
  let runtimeMs = 0;
  for (const [pid, ms] of processCpuMs(target.runtimePids())) runtimeMs += ms - (runtime0.get(pid) ?? 0);
  const stopped = await pool(started.results, p.clients, (pod) => stopPod(o, pod, s));
  const errors = [...started.errors, ...stopped.errors];
  r.concurrent = {
    ...summarizeSamples(s, errors.length, errors),
    wallMs: Math.round(wallMs),
    podsPerSecond: Math.round((started.results.length / (wallMs / 1000)) * 10) / 10,
    hostCpuMsPerPod: Math.round((cpuMs / Math.max(1, started.results.length)) * 10) / 10,
    runtimeCpuMsPerPod: Math.round((runtimeMs / Math.max(1, started.results.length)) * 10) / 10,
    clientCpuMsPerPod: Math.round(((client.user + client.system) / 1000 / Math.max(1, started.results.length)) * 10) / 10,
  };
}

async function benchTarget(name: TargetName, p: Params, refs: { registry: TestRegistry; busybox: string; pause: string }): Promise<TargetResult> {
  const r: TargetResult = { errors: {} };
  note(`${name}: starting`);
  const target = await step(r, 'start', () => startTarget(name, { registry: refs.registry, pauseRef: refs.pause }));
  if (!target) return r;
  try {
    r.idleAtStart = toMiB(memoryOf(target.runtimePids()));
    if (!(await step(r, 'pullImage', () => pullImage(target.cri, refs.busybox)))) return r;
    const o = (prefix: string): WorkloadOptions => ({ cri: target.cri, image: refs.busybox, scratch: target.scratch, prefix });
    // Warm-up: first-use costs (image unpack caches, code paths) are not the steady state.
    await step(r, 'warmup', async () => {
      const s = newSamples();
      for (let i = 0; i < 3; i++) await stopPod(o('warmup'), await startPod(o('warmup'), i, s), s);
    });
    r.idle = await settledMemory(target);
    note(`${name}: ${p.pods} pods sequentially`);
    await step(r, 'sequential', () => sequentialPhase(o('seq'), p, r, target));
    if (r.idle && r.withPods && p.pods > 0) {
      r.perPod = {
        rssMiB: Math.round(((r.withPods.rssMiB - r.idle.rssMiB) / p.pods) * 100) / 100,
        pssMiB: Math.round(((r.withPods.pssMiB - r.idle.pssMiB) / p.pods) * 100) / 100,
      };
    }
    note(`${name}: ${p.pods} pods by ${p.clients} concurrent clients`);
    await step(r, 'concurrent', () => concurrentPhase(o('con'), p, r, target));
  } finally {
    await step(r, 'stop', () => target.stop());
  }
  return r;
}

function parseArgs(argv: readonly string[]): Params {
  const only = argv[2];
  const targets: TargetName[] = only === 'mesos-cri' || only === 'containerd' ? [only] : ['containerd', 'mesos-cri'];
  return { pods: Number(argv[0] ?? 50), clients: Number(argv[1] ?? 10), targets };
}

async function main(): Promise<number> {
  const p = parseArgs(process.argv.slice(2));
  const results: Partial<Record<TargetName, TargetResult>> = {};
  const registry = await startRegistry();
  try {
    const busybox = (await pushBusybox(registry, 'bench/busybox:1')).ref;
    const pause = await pushPause(registry);
    for (const name of p.targets) results[name] = await benchTarget(name, p, { registry, busybox, pause });
  } finally {
    await registry.stop();
  }
  let cni: CniBenchResult | { error: string };
  try {
    note('CNI attach/detach');
    cni = await benchCniAttachDetach();
  } catch (err) {
    cni = { error: describeErr(err) };
  }

  const ours = results['mesos-cri'];
  const ref = results.containerd;
  const lat = (r: TargetResult | undefined, phase: 'sequential' | 'concurrent', rpc: keyof PhaseResult['latencyMs']): number | undefined =>
    r?.[phase]?.latencyMs[rpc]?.median;
  const podStart = ours?.sequential?.podStartMedianMs;
  const refPodStart = ref?.sequential?.podStartMedianMs;
  const doc = {
    bench: 'lifecycle',
    host: { cpus: cpus().length, kernel: release(), node: process.version },
    params: { pods: p.pods, clients: p.clients, targets: p.targets },
    results,
    cni,
    // `ours / containerd`: below 1 is better, except pods/s.
    ratios: {
      podStartMedian: ratio(podStart, refPodStart),
      runPodSandboxMedian: ratio(lat(ours, 'sequential', 'runPodSandbox'), lat(ref, 'sequential', 'runPodSandbox')),
      createContainerMedian: ratio(lat(ours, 'sequential', 'createContainer'), lat(ref, 'sequential', 'createContainer')),
      startContainerMedian: ratio(lat(ours, 'sequential', 'startContainer'), lat(ref, 'sequential', 'startContainer')),
      stopRemoveContainerMedian: ratio(lat(ours, 'sequential', 'stopRemoveContainer'), lat(ref, 'sequential', 'stopRemoveContainer')),
      concurrentPodsPerSecond: ratio(ours?.concurrent?.podsPerSecond, ref?.concurrent?.podsPerSecond),
      memoryPerPodPss: ratio(ours?.perPod?.pssMiB, ref?.perPod?.pssMiB),
      memoryPerPodRss: ratio(ours?.perPod?.rssMiB, ref?.perPod?.rssMiB),
    },
    targets: {
      podStartMedianAtMost0_6xContainerd: podStart === undefined || refPodStart === undefined ? undefined : podStart <= 0.6 * refPodStart,
      memoryPerPodAtMostQuarterOfContainerd:
        ours?.perPod === undefined || ref?.perPod === undefined ? undefined : ours.perPod.rssMiB <= 0.25 * ref.perPod.rssMiB,
      daemonIdleRssUnder80MiB: ours?.idle === undefined ? undefined : ours.idle.rssMiB < 80,
      concurrentNoFailure: ours?.concurrent === undefined ? undefined : ours.concurrent.failures === 0,
      concurrentAtLeast2xContainerdPodsPerSecond:
        ours?.concurrent === undefined || ref?.concurrent === undefined ? undefined : ours.concurrent.podsPerSecond >= 2 * ref.concurrent.podsPerSecond,
    },
  };
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  // The reference's own failures are reported, not fatal (containerd 1.6 sometimes
  // refuses RemoveContainer right after StopContainer under load).
  const failed =
    Object.values(results).some((r) => r && Object.keys(r.errors).length > 0) ||
    (ours?.sequential?.failures ?? 0) > 0 ||
    (ours?.concurrent?.failures ?? 0) > 0;
  return failed || 'error' in cni ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${describeErr(err)}\n`);
    process.exit(1);
  },
);
