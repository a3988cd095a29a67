/**
 * The streaming benchmark proper (see `main.ts` for the CLI). Both runtimes
 * run at once, each with the same pod, and every measurement alternates
 * between them sample by sample (A B, then B A): this host's timings drift
 * by tens of percent over a minute, and alternation puts the drift on both
 * sides of each ratio instead of on one.
 */
import { connect as netConnect } from 'node:net';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { pushBusybox } from '../../e2e/support/images';
import { freePort, startRegistry, type TestRegistry } from '../../e2e/support/registry';
import { mbPerSec, memoryOf, mib, processMemory, pullImage, ratio, runPod, summarize, timed, type ProcessMemory, type Summary } from '../support/cri';
import { pushPause } from '../support/pause-image';
import { startTarget, type Target, type TargetName } from '../support/targets';
import { execStdoutOnce, execSyncOnce, httpdCommand, portForwardOnce, runcExecOnce } from './measure';

export interface Params {
  readonly execSyncN: number;
  readonly mib: number;
  readonly runs: number;
}

export interface LatencyResult {
  readonly latencyMs: Summary;
}

export interface ThroughputResult {
  readonly bytes: number;
  readonly runs: number;
  /** Median over the runs. */
  readonly mbPerSec: number;
  readonly runsMbPerSec: number[];
}

export interface TargetResult {
  execSync?: LatencyResult;
  /** Plain `runc exec true` on the same container: the floor under ExecSync. */
  runcExecFloor?: LatencyResult;
  execStdout?: ThroughputResult;
  portForward?: ThroughputResult;
  /** Runtime-side memory (daemon + helpers) with the one bench pod running. */
  memoryWithOnePod?: { pids: number; rssMiB: number; pssMiB: number; byProcess: ProcessMemory[] };
  errors: Record<string, string>;
}

const note = (msg: string): void => void process.stderr.write(`[bench/streaming] ${msg}\n`);
export const describeError = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

async function step<T>(r: TargetResult, name: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    r.errors[name] = describeError(err);
    note(`${name} failed: ${r.errors[name]}`);
    return undefined;
  }
}

async function waitListening(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`failed to reach httpd on 127.0.0.1:${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A runtime with the bench pod running: httpd serving the blob, which also hosts the execs. */
interface Subject {
  readonly target: Target;
  readonly podId: string;
  readonly containerId: string;
  readonly port: number;
  readonly result: TargetResult;
}

interface Refs {
  readonly registry: TestRegistry;
  readonly busybox: string;
  readonly pause: string;
}

async function prepare(name: TargetName, p: Params, refs: Refs, started: Target[]): Promise<{ result: TargetResult; subject?: Subject }> {
  const result: TargetResult = { errors: {} };
  note(`${name}: starting`);
  const target = await step(result, 'start', () => startTarget(name, { registry: refs.registry, pauseRef: refs.pause }));
  if (!target) return { result };
  started.push(target);
  const { cri } = target;
  if (!(await step(result, 'pullImage', () => pullImage(cri, refs.busybox)))) return { result };
  const port = await freePort();
  const pod = await step(result, 'runPod', () => runPod(cri, { name: 'stream-bench', logDir: join(target.scratch, 'pods', 'stream-bench') }, { image: refs.busybox, command: httpdCommand(port, p.mib) }));
  if (!pod) return { result };
  // Host network: the pod's httpd is reachable from here once it has written its file.
  if (!(await step(result, 'httpd', async () => (await waitListening(port, 60_000), true)))) return { result };
  return { result, subject: { target, podId: pod.podId, containerId: pod.containerId, port, result } };
}

/**
 * Runs `fn` for every subject, `warmup` unmeasured rounds then `rounds`
 * measured ones, alternating the order each round. A subject whose sample
 * fails gets the error recorded under `name` and sits out the rest.
 */
async function interleave(subjects: readonly Subject[], name: string, o: { rounds: number; warmup: number }, fn: (s: Subject) => Promise<void>): Promise<Map<Subject, number[]>> {
  const samples = new Map(subjects.map((s) => [s, [] as number[]]));
  note(`${name}: ${o.rounds} rounds`);
  for (let round = 0; round < o.warmup + o.rounds; round++) {
    const order = round % 2 === 0 ? subjects : [...subjects].reverse();
    for (const s of order) {
      if (s.result.errors[name]) continue;
      try {
        const { ms } = await timed(() => fn(s));
        if (round >= o.warmup) samples.get(s)!.push(ms);
      } catch (err) {
        s.result.errors[name] = describeError(err);
        note(`${s.target.name} ${name} failed: ${s.result.errors[name]}`);
      }
    }
  }
  for (const s of subjects) if (s.result.errors[name]) samples.delete(s);
  return samples;
}

function latency(samples: Map<Subject, number[]>, set: (s: Subject, r: LatencyResult) => void): void {
  for (const [s, xs] of samples) if (xs.length > 0) set(s, { latencyMs: summarize(xs) });
}

function throughput(samples: Map<Subject, number[]>, bytes: number, set: (s: Subject, r: ThroughputResult) => void): void {
  for (const [s, xs] of samples) {
    if (xs.length === 0) continue;
    const rates = xs.map((ms) => mbPerSec(bytes, ms));
    set(s, { bytes, runs: rates.length, mbPerSec: summarize(rates).median, runsMbPerSec: rates });
  }
}

async function measure(subjects: readonly Subject[], p: Params): Promise<void> {
  for (const s of subjects) {
    const pids = s.target.runtimePids();
    const m = memoryOf(pids);
    s.result.memoryWithOnePod = { pids: m.pids, rssMiB: mib(m.rssKiB), pssMiB: mib(m.pssKiB), byProcess: processMemory(pids) };
  }
  const bytes = p.mib * 1024 * 1024;
  latency(await interleave(subjects, 'execSync', { rounds: p.execSyncN, warmup: 3 }, (s) => execSyncOnce(s.target.cri, s.containerId)), (s, r) => (s.result.execSync = r));
  latency(await interleave(subjects, 'runcExecFloor', { rounds: p.execSyncN, warmup: 3 }, (s) => runcExecOnce(s.target.runcRoot, s.containerId)), (s, r) => (s.result.runcExecFloor = r));
  throughput(await interleave(subjects, 'execStdout', { rounds: p.runs, warmup: 1 }, (s) => execStdoutOnce(s.target.cri, s.containerId, p.mib)), bytes, (s, r) => (s.result.execStdout = r));
  throughput(await interleave(subjects, 'portForward', { rounds: p.runs, warmup: 1 }, (s) => portForwardOnce(s.target.cri, s.podId, { port: s.port, mib: p.mib })), bytes, (s, r) => (s.result.portForward = r));
}

export interface StreamingReport {
  readonly bench: 'streaming';
  readonly host: { cpus: number; kernel: string; node: string };
  readonly params: Params;
  readonly results: Partial<Record<TargetName, TargetResult>>;
  readonly ratios: Record<'execSyncMedian' | 'execSyncP99' | 'execStdoutThroughput' | 'portForwardThroughput' | 'memoryWithOnePodPss', number | undefined>;
  readonly targets: { execSyncMedianUnder30ms: boolean | undefined; execSyncMedianAtMost0_7xContainerd: boolean | undefined };
}

export async function runStreamingBench(p: Params): Promise<StreamingReport> {
  const registry = await startRegistry();
  const results: Partial<Record<TargetName, TargetResult>> = {};
  const started: Target[] = [];
  try {
    const refs: Refs = { registry, busybox: (await pushBusybox(registry, 'bench/busybox:1')).ref, pause: await pushPause(registry) };
    const subjects: Subject[] = [];
    for (const name of ['containerd', 'mesos-cri'] as const) {
      const { result, subject } = await prepare(name, p, refs, started);
      results[name] = result;
      if (subject) subjects.push(subject);
    }
    await measure(subjects, p);
  } finally {
    for (const t of started) {
      const r = results[t.name]!;
      await step(r, 'stop', () => t.stop());
    }
    await registry.stop();
  }
  const ours = results['mesos-cri'];
  const ref = results.containerd;
  const oursMedian = ours?.execSync?.latencyMs.median;
  const refMedian = ref?.execSync?.latencyMs.median;
  const doc: StreamingReport = {
    bench: 'streaming',
    host: { cpus: cpus().length, kernel: release(), node: process.version },
    params: p,
    results,
    // `ours / containerd`: below 1 is better for latencies, above 1 for throughputs.
    ratios: {
      execSyncMedian: ratio(oursMedian, refMedian),
      execSyncP99: ratio(ours?.execSync?.latencyMs.p99, ref?.execSync?.latencyMs.p99),
      execStdoutThroughput: ratio(ours?.execStdout?.mbPerSec, ref?.execStdout?.mbPerSec),
      portForwardThroughput: ratio(ours?.portForward?.mbPerSec, ref?.portForward?.mbPerSec),
      memoryWithOnePodPss: ratio(ours?.memoryWithOnePod?.pssMiB, ref?.memoryWithOnePod?.pssMiB),
    },
    targets: {
      execSyncMedianUnder30ms: oursMedian === undefined ? undefined : oursMedian < 30,
      execSyncMedianAtMost0_7xContainerd: oursMedian === undefined || refMedian === undefined ? undefined : oursMedian <= 0.7 * refMedian,
    },
  };
  return doc;
}

/** True when every step of every target succeeded. */
export const succeeded = (doc: StreamingReport): boolean => Object.values(doc.results).every((r) => r && Object.keys(r.errors).length === 0);

