import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The daemon's Prometheus metrics, all in one registry (served by
 * `src/shim/metrics-server.ts` when `metrics.address` is set). Call sites
 * elsewhere use the small functions below; while the endpoint is off
 * (`enableMetrics` not called) they return at once, so an unscraped daemon
 * pays nothing for them.
 *
 * Names follow Prometheus conventions (`_total` counters, `_seconds` and
 * `_bytes` units) and reuse the ones operators already chart: the gRPC
 * server metrics are go-grpc-prometheus's (what containerd serves), the
 * rest carry a `mesos_cri_` prefix shaped like containerd's `containerd_cri_`
 * and CRI-O's `container_runtime_crio_` families.
 */
export const registry = new Registry();
let enabled = false;

/** Turns the call sites on and starts the process metrics (`process_*`, `nodejs_*`). */
export function enableMetrics(): void {
  if (enabled) return;
  enabled = true;
  collectDefaultMetrics({ register: registry });
}

const LATENCY = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const PHASE = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const registers = [registry];

// ---- gRPC (go-grpc-prometheus names) -----------------------------------

const rpcLabels = ['grpc_type', 'grpc_service', 'grpc_method'] as const;
const rpcStarted = new Counter({ name: 'grpc_server_started_total', help: 'Total number of RPCs started on the server.', labelNames: rpcLabels, registers });
const rpcHandled = new Counter({
  name: 'grpc_server_handled_total',
  help: 'Total number of RPCs completed on the server, regardless of success or failure.',
  labelNames: [...rpcLabels, 'grpc_code'],
  registers,
});
const rpcSeconds = new Histogram({
  name: 'grpc_server_handling_seconds',
  help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
  labelNames: rpcLabels,
  buckets: LATENCY,
  registers,
});

export interface RpcName {
  readonly service: string;
  readonly method: string;
  readonly type: 'unary' | 'server_stream';
}

export function rpcStart(rpc: RpcName): void {
  if (!enabled) return;
  rpcStarted.inc({ grpc_type: rpc.type, grpc_service: rpc.service, grpc_method: rpc.method });
}

/** `code` is the gRPC status name (`OK`, `NOT_FOUND`, …). */
export function rpcDone(rpc: RpcName, code: string, seconds: number): void {
  if (!enabled) return;
  const labels = { grpc_type: rpc.type, grpc_service: rpc.service, grpc_method: rpc.method };
  rpcHandled.inc({ ...labels, grpc_code: code });
  rpcSeconds.observe(labels, seconds);
}

// ---- images ------------------------------------------------------------

/** One layer of a pull in flight, as `mesos-cri images pull` shows it. */
export interface LayerProgress {
  readonly digest: string;
  /** Compressed size from the manifest. */
  readonly size: number;
  readonly downloaded: number;
  /** Compressed bytes fed to the extractor so far. */
  readonly extracted: number;
  readonly state: 'waiting' | 'downloading' | 'extracting' | 'done' | 'exists';
}

export interface PullSnapshot {
  readonly image: string;
  readonly startedAt: number;
  readonly layers: readonly LayerProgress[];
}

let pullSource: () => readonly PullSnapshot[] = () => [];

/** Where the per-layer gauges read the pulls in flight (the image store's tracker). */
export function setPullSource(fn: () => readonly PullSnapshot[]): void {
  pullSource = fn;
}

new Gauge({
  name: 'mesos_cri_image_pulls_in_progress',
  help: 'Image pulls in progress.',
  registers,
  collect() {
    this.set(pullSource().length);
  },
});
new Gauge({
  name: 'mesos_cri_image_pull_layer_downloaded_bytes',
  help: 'Bytes of each layer of the pulls in progress downloaded so far (the series go when the pull ends).',
  labelNames: ['image', 'layer'],
  registers,
  collect() {
    this.reset();
    for (const p of pullSource()) for (const l of p.layers) this.set({ image: p.image, layer: l.digest }, l.downloaded);
  },
});
new Gauge({
  name: 'mesos_cri_image_pull_layer_size_bytes',
  help: 'Compressed size of each layer of the pulls in progress.',
  labelNames: ['image', 'layer'],
  registers,
  collect() {
    this.reset();
    for (const p of pullSource()) for (const l of p.layers) this.set({ image: p.image, layer: l.digest }, l.size);
  },
});
const pulls = new Counter({ name: 'mesos_cri_image_pulls_total', help: 'Image pulls finished, by outcome (success, failure, stalled).', labelNames: ['outcome'], registers });
const pullBytes = new Counter({ name: 'mesos_cri_image_pull_bytes_total', help: 'Bytes downloaded from registries by image pulls.', registers });
const pullSeconds = new Histogram({ name: 'mesos_cri_image_pull_seconds', help: 'Duration of successful image pulls.', buckets: LATENCY, registers });
const unpackSeconds = new Histogram({
  name: 'mesos_cri_image_layer_unpack_seconds',
  help: 'Time to verify and extract one downloaded layer.',
  buckets: LATENCY,
  registers,
});

export function pullBytesAdd(n: number): void {
  if (enabled && n > 0) pullBytes.inc(n);
}

/** `stalled`: cancelled by `images.pullProgressTimeout`. */
export function pullFinished(outcome: 'success' | 'failure' | 'stalled', seconds: number): void {
  if (!enabled) return;
  pulls.inc({ outcome });
  if (outcome === 'success') pullSeconds.observe(seconds);
}

export function layerUnpacked(seconds: number): void {
  if (enabled) unpackSeconds.observe(seconds);
}

// ---- pod and container starts ------------------------------------------

const sandboxPhases = new Histogram({
  name: 'mesos_cri_sandbox_start_phase_seconds',
  help: 'RunPodSandbox by phase: netns, cni, files, spec, infra, checkpoint, and total.',
  labelNames: ['phase'],
  buckets: PHASE,
  registers,
});
const containerPhases = new Histogram({
  name: 'mesos_cri_container_start_phase_seconds',
  help: 'CreateContainer and StartContainer by phase: rootfs, spec, conmon_runc_create, checkpoint, create_total, start.',
  labelNames: ['phase'],
  buckets: PHASE,
  registers,
});

export function sandboxPhase(phase: string, seconds: number): void {
  if (enabled) sandboxPhases.observe({ phase }, seconds);
}

export function containerPhase(phase: string, seconds: number): void {
  if (enabled) containerPhases.observe({ phase }, seconds);
}

/** Records a stopwatch's steps (milliseconds) under their names, renamed by `names` where given. */
export function observePhases(kind: 'sandbox' | 'container', totalsMs: Readonly<Record<string, number>>, names: Readonly<Record<string, string>> = {}): void {
  if (!enabled) return;
  const observe = kind === 'sandbox' ? sandboxPhase : containerPhase;
  for (const [step, ms] of Object.entries(totalsMs)) observe(names[step] ?? step, ms / 1000);
}

const oomKills = new Counter({ name: 'mesos_cri_containers_oom_killed_total', help: 'Containers that exited because the OOM killer killed them.', registers });

export function containerOomKilled(): void {
  if (enabled) oomKills.inc();
}

// ---- CNI ---------------------------------------------------------------

const cniOps = new Counter({ name: 'mesos_cri_network_plugin_operations_total', help: 'CNI plugin chain operations (add, del, check).', labelNames: ['operation'], registers });
const cniErrors = new Counter({ name: 'mesos_cri_network_plugin_operations_errors_total', help: 'Failed CNI plugin chain operations.', labelNames: ['operation'], registers });
const cniSeconds = new Histogram({
  name: 'mesos_cri_network_plugin_operations_duration_seconds',
  help: 'Latency of CNI plugin chain operations.',
  labelNames: ['operation'],
  buckets: PHASE,
  registers,
});

/** Times `fn` as one CNI operation; its error counts and is rethrown. */
export async function timeCni<T>(operation: 'add' | 'del' | 'check', fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  const t = process.hrtime.bigint();
  cniOps.inc({ operation });
  try {
    return await fn();
  } catch (err) {
    cniErrors.inc({ operation });
    throw err;
  } finally {
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    cniSeconds.observe({ operation }, seconds);
    // ADD is the `cni` phase of a sandbox start.
    if (operation === 'add') sandboxPhases.observe({ phase: 'cni' }, seconds);
  }
}

// ---- streaming sessions ------------------------------------------------

const sessions = new Gauge({ name: 'mesos_cri_exec_sessions', help: 'Open exec, attach and port-forward sessions, and ExecSync calls in flight.', labelNames: ['kind'], registers });

/** Counts a session open until the returned function is called (once). */
export function sessionOpened(kind: 'exec' | 'attach' | 'port_forward' | 'exec_sync'): () => void {
  if (!enabled) return () => undefined;
  sessions.inc({ kind });
  let open = true;
  return () => {
    if (open) sessions.dec({ kind });
    open = false;
  };
}

// ---- recovery and state ------------------------------------------------

const recoverySeconds = new Gauge({ name: 'mesos_cri_recovery_duration_seconds', help: 'How long the last start-up recovery took.', registers });
const recovered = new Gauge({
  name: 'mesos_cri_recovery_objects',
  help: 'Checkpointed sandboxes and containers found by the last recovery, by outcome (recovered, cleaned).',
  labelNames: ['kind', 'outcome'],
  registers,
});

export interface RecoveryCounts {
  readonly sandboxes: { readonly recovered: number; readonly cleaned: number };
  readonly containers: { readonly recovered: number; readonly cleaned: number };
}

export function recoveryDone(seconds: number, counts: RecoveryCounts): void {
  // Recorded even while disabled: the endpoint starts after recovery.
  recoverySeconds.set(seconds);
  for (const [kind, n] of [['sandbox', counts.sandboxes], ['container', counts.containers]] as const) {
    for (const outcome of ['recovered', 'cleaned'] as const) recovered.set({ kind, outcome }, n[outcome]);
  }
}

let stateSource: () => { sandboxes: Record<string, number>; containers: Record<string, number> } = () => ({ sandboxes: {}, containers: {} });

/** Where the state gauges count sandboxes and containers (the containerizer). */
export function setStateSource(fn: typeof stateSource): void {
  stateSource = fn;
}

new Gauge({
  name: 'mesos_cri_sandboxes',
  help: 'Pod sandboxes by state.',
  labelNames: ['state'],
  registers,
  collect() {
    this.reset();
    for (const [state, n] of Object.entries(stateSource().sandboxes)) this.set({ state }, n);
  },
});
new Gauge({
  name: 'mesos_cri_containers',
  help: 'Containers by state.',
  labelNames: ['state'],
  registers,
  collect() {
    this.reset();
    for (const [state, n] of Object.entries(stateSource().containers)) this.set({ state }, n);
  },
});
