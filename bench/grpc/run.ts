/**
 * What the HTTP/2 filter in front of grpc-js costs (see `main.ts` for the
 * CLI). Two daemons run the same host-network pod: one as shipped (every
 * connection through the filter), one with `MESOS_CRI_BENCH_UNFILTERED=1`
 * (grpc-js bound to the socket itself, as before the filter). Three clients:
 * grpc-js sending `localhost` to each daemon, and one sending the socket
 * path as `:authority` (what crictl <= 1.29 and kubelet 1.26-1.29 send,
 * which only the filtered daemon accepts). Samples alternate between the
 * subjects round by round, so this host's drift lands on all of them.
 *
 * Streaming data (exec, port-forward) never crosses the gRPC socket, only the
 * Exec/PortForward RPC that hands out the URL does; throughput is measured
 * anyway, end to end, to show it.
 */
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { pushBusybox } from '../../e2e/support/images';
import { freePort, startRegistry } from '../../e2e/support/registry';
import { RequestFilter } from '../../src/shim/h2/request-filter';
import { clientOpening, FixtureEncoder, grpcData, headersFrames } from '../../src/shim/h2/testing';
import { connect, mbPerSec, pullImage, ratio, runPod, summarize, timed, type CriEndpoint, type Summary } from '../support/cri';
import { mesosCriTarget, type Target } from '../support/targets';
import { execStdoutOnce, execSyncOnce, httpdCommand, portForwardOnce } from '../streaming/measure';
import { cpuNs } from './cpu';

export interface Params {
  readonly versionN: number;
  readonly execSyncN: number;
  readonly mib: number;
  readonly runs: number;
}

type SubjectName = 'unfiltered' | 'filtered' | 'filteredPathAuthority';

interface Subject {
  readonly name: SubjectName;
  readonly target: Target;
  readonly cri: CriEndpoint & { close(): void };
  readonly podId: string;
  readonly containerId: string;
  readonly port: number;
}

export interface SubjectResult {
  versionMs?: Summary;
  /** Daemon CPU (all threads) per Version call, in microseconds: the median of per-call deltas and the mean. */
  versionDaemonCpuUs?: { median: number; mean: number };
  execSyncMs?: Summary;
  execStdoutMbPerSec?: { median: number; runs: number[] };
  portForwardMbPerSec?: { median: number; runs: number[] };
  errors: Record<string, string>;
}

const note = (msg: string): void => void process.stderr.write(`[bench/grpc] ${msg}\n`);
export const describeError = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 2000);
const round = (v: number, d = 3): number => Math.round(v * 10 ** d) / 10 ** d;

/** Per-sample values of each subject, sampled in alternating order; a failing subject sits out with its error recorded. */
async function interleave(subjects: readonly Subject[], results: Record<string, SubjectResult>, name: string, o: { rounds: number; warmup: number }, fn: (s: Subject) => Promise<number | void>): Promise<Map<Subject, number[]>> {
  note(`${name}: ${o.rounds} rounds over ${subjects.map((s) => s.name).join(', ')}`);
  const out = new Map(subjects.map((s) => [s, [] as number[]]));
  for (let r = 0; r < o.warmup + o.rounds; r++) {
    for (const s of r % 2 === 0 ? subjects : [...subjects].reverse()) {
      if (results[s.name]!.errors[name]) continue;
      try {
        const { ms, value } = await timed(() => fn(s));
        if (r >= o.warmup) out.get(s)!.push(typeof value === 'number' ? value : ms);
      } catch (err) {
        results[s.name]!.errors[name] = describeError(err);
        note(`${s.name} ${name} failed: ${describeError(err)}`);
      }
    }
  }
  return out;
}

/** The filter alone, in this process: microseconds of CPU per request header block (crictl-like blocks after the first). */
export function filterMicrobench(n: number): { usPerRequest: number; requests: number } {
  const enc = new FixtureEncoder();
  const f = new RequestFilter({ maxBlockSize: 1 << 20, maxListSize: 1 << 20 });
  f.push(clientOpening());
  const request = (stream: number): Buffer =>
    Buffer.concat([
      headersFrames(
        stream,
        enc.encode([
          { name: ':method', value: 'POST', as: 'indexed' },
          { name: ':scheme', value: 'http', as: 'indexed' },
          { name: ':path', value: '/runtime.v1.RuntimeService/Version', as: 'indexed', huffman: true },
          { name: ':authority', value: '/run/mesos-cri/mesos-cri.sock', as: 'indexed', huffman: true },
          { name: 'content-type', value: 'application/grpc', as: 'indexed', huffman: true },
          { name: 'user-agent', value: 'grpc-go/1.51.0', as: 'indexed', huffman: true },
          { name: 'te', value: 'trailers', as: 'indexed' },
          { name: 'grpc-timeout', value: `${stream % 1000}m`, huffman: true, as: 'without' },
        ]),
      ),
      grpcData(stream, Buffer.from('0a027631', 'hex')),
    ]);
  const inputs = Array.from({ length: n }, (_, i) => request(2 * i + 1));
  const t0 = process.cpuUsage();
  for (const b of inputs) f.push(b);
  const used = process.cpuUsage(t0);
  if (f.rewritten !== n) throw new Error(`failed to filter ${n} requests: ${f.rewritten}`);
  return { usPerRequest: round((used.user + used.system) / n), requests: n };
}

export interface GrpcReport {
  readonly bench: 'grpc-filter';
  readonly host: { cpus: number; kernel: string; node: string };
  readonly params: Params;
  readonly filterAlone: { usPerRequest: number; requests: number };
  readonly results: Partial<Record<SubjectName, SubjectResult>>;
  /** Filtered minus unfiltered (ms, µs), and filtered/unfiltered for throughputs. */
  readonly cost: {
    versionMedianAddedMs: number | undefined;
    versionMedianAddedMsPathAuthority: number | undefined;
    execSyncMedianAddedMs: number | undefined;
    versionDaemonCpuAddedUs: number | undefined;
    execStdoutThroughputRatio: number | undefined;
    portForwardThroughputRatio: number | undefined;
  };
  readonly targets: { addsUnder0_1msAtMedian: boolean | undefined };
}

async function prepare(name: 'filtered' | 'unfiltered', p: Params, busybox: string, started: Target[]): Promise<Omit<Subject, 'name' | 'cri'>> {
  note(`${name}: starting`);
  const target = await mesosCriTarget({ tag: name, ...(name === 'unfiltered' ? { env: { MESOS_CRI_BENCH_UNFILTERED: '1' } } : {}) });
  started.push(target);
  await pullImage(target.cri, busybox);
  const port = await freePort();
  const pod = await runPod(target.cri, { name: `grpc-${name}`, logDir: join(target.scratch, 'pods', name) }, { image: busybox, command: httpdCommand(port, p.mib) });
  return { target, podId: pod.podId, containerId: pod.containerId, port };
}

export async function runGrpcBench(p: Params): Promise<GrpcReport> {
  const filterAlone = filterMicrobench(20_000);
  const registry = await startRegistry();
  const started: Target[] = [];
  const subjects: Subject[] = [];
  const results: Partial<Record<SubjectName, SubjectResult>> = {};
  try {
    const busybox = (await pushBusybox(registry, 'bench/busybox:1')).ref;
    // Started in alternating order between runs of the bench (MESOS_CRI_BENCH_FILTERED_FIRST=1 swaps), to see start order apart from the filter.
    const filteredFirst = process.env.MESOS_CRI_BENCH_FILTERED_FIRST === '1';
    const first = await prepare(filteredFirst ? 'filtered' : 'unfiltered', p, busybox, started);
    const second = await prepare(filteredFirst ? 'unfiltered' : 'filtered', p, busybox, started);
    const [unfiltered, filtered] = filteredFirst ? [second, first] : [first, second];
    const socketOf = (t: Target): string => join(t.scratch, 'run', 'mesos-cri.sock');
    subjects.push(
      { ...unfiltered, name: 'unfiltered', cri: connect(socketOf(unfiltered.target)) },
      { ...filtered, name: 'filtered', cri: connect(socketOf(filtered.target)) },
      { ...filtered, name: 'filteredPathAuthority', cri: connect(socketOf(filtered.target), { authority: socketOf(filtered.target) }) },
    );
    for (const s of subjects) results[s.name] = { errors: {} };
    const r = results as Record<SubjectName, SubjectResult>;
    // Version: wall time per call, and the daemon's CPU per call (read outside the timed call).
    const cpu = new Map(subjects.map((s) => [s, [] as number[]]));
    const version = await interleave(subjects, r, 'version', { rounds: p.versionN, warmup: 50 }, async (s) => {
      const pid = s.target.runtimePids()[0]!;
      const before = cpuNs(pid);
      const { ms } = await timed(() => s.cri.runtime.call('Version', {}));
      cpu.get(s)!.push((cpuNs(pid) - before) / 1000);
      return ms;
    });
    for (const [s, xs] of version) {
      if (!xs.length) continue;
      r[s.name].versionMs = summarize(xs);
      const us = cpu.get(s)!.slice(-xs.length);
      r[s.name].versionDaemonCpuUs = { median: summarize(us).median, mean: round(us.reduce((a, b) => a + b, 0) / us.length, 1) };
    }
    for (const [s, xs] of await interleave(subjects, r, 'execSync', { rounds: p.execSyncN, warmup: 3 }, (s) => execSyncOnce(s.cri, s.containerId)))
      if (xs.length) r[s.name].execSyncMs = summarize(xs);
    const streams = subjects.filter((s) => s.name !== 'filteredPathAuthority');
    const bytes = p.mib * 1024 * 1024;
    for (const [s, xs] of await interleave(streams, r, 'execStdout', { rounds: p.runs, warmup: 1 }, (s) => execStdoutOnce(s.cri, s.containerId, p.mib))) {
      const rates = xs.map((ms) => mbPerSec(bytes, ms));
      if (rates.length) r[s.name].execStdoutMbPerSec = { median: summarize(rates).median, runs: rates };
    }
    for (const [s, xs] of await interleave(streams, r, 'portForward', { rounds: p.runs, warmup: 1 }, (s) => portForwardOnce(s.cri, s.podId, { port: s.port, mib: p.mib }))) {
      const rates = xs.map((ms) => mbPerSec(bytes, ms));
      if (rates.length) r[s.name].portForwardMbPerSec = { median: summarize(rates).median, runs: rates };
    }
  } finally {
    for (const s of subjects) s.cri.close();
    for (const t of started) await t.stop().catch((err: unknown) => note(`stop failed: ${describeError(err)}`));
    await registry.stop();
  }
  const u = results.unfiltered;
  const f = results.filtered;
  const diff = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : round(a - b));
  const added = diff(f?.versionMs?.median, u?.versionMs?.median);
  return {
    bench: 'grpc-filter',
    host: { cpus: cpus().length, kernel: release(), node: process.version },
    params: p,
    filterAlone,
    results,
    cost: {
      versionMedianAddedMs: added,
      versionMedianAddedMsPathAuthority: diff(results.filteredPathAuthority?.versionMs?.median, u?.versionMs?.median),
      execSyncMedianAddedMs: diff(f?.execSyncMs?.median, u?.execSyncMs?.median),
      versionDaemonCpuAddedUs: diff(f?.versionDaemonCpuUs?.mean, u?.versionDaemonCpuUs?.mean),
      execStdoutThroughputRatio: ratio(f?.execStdoutMbPerSec?.median, u?.execStdoutMbPerSec?.median),
      portForwardThroughputRatio: ratio(f?.portForwardMbPerSec?.median, u?.portForwardMbPerSec?.median),
    },
    targets: { addsUnder0_1msAtMedian: added === undefined ? undefined : added < 0.1 },
  };
}

export const succeeded = (doc: GrpcReport): boolean => Object.values(doc.results).every((r) => r && Object.keys(r.errors).length === 0);
