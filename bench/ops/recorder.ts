/**
 * Per-operation samples of one runtime: every CRI call the ops bench makes
 * goes through `call`, which times it on the shared persistent client and
 * files the sample (or the failure) under the RPC's name, or a phase's.
 */
import { codeOf } from '../../e2e/support/cri-client';
import { summarize, timed, type CriEndpoint, type Summary } from '../support/cri';

/** gRPC `UNIMPLEMENTED`: the runtime has no such RPC (containerd 1.6 and the newer ones). */
const UNIMPLEMENTED = 12;

export interface OpSummary extends Summary {
  readonly failures?: number;
  readonly firstError?: string;
}

export class Recorder {
  readonly #samples = new Map<string, number[]>();
  readonly #failures = new Map<string, { n: number; first: string }>();
  readonly unimplemented = new Set<string>();

  constructor(readonly cri: CriEndpoint) {}

  add(op: string, ms: number): void {
    let s = this.#samples.get(op);
    if (!s) this.#samples.set(op, (s = []));
    s.push(ms);
  }

  fail(op: string, err: unknown): void {
    const f = this.#failures.get(op) ?? { n: 0, first: (err instanceof Error ? err.message : String(err)).slice(0, 500) };
    f.n++;
    this.#failures.set(op, f);
  }

  /** One timed runtime RPC; failures are recorded and rethrown (callers decide whether they matter). */
  async runtime<R = Record<string, unknown>>(rpc: string, req: object, timeoutMs = 60_000): Promise<R> {
    return this.time(rpc, () => this.cri.runtime.call<R>(rpc, req, timeoutMs));
  }

  async image<R = Record<string, unknown>>(rpc: string, req: object, timeoutMs = 60_000): Promise<R> {
    return this.time(rpc, () => this.cri.image.call<R>(rpc, req, timeoutMs));
  }

  /** Like `runtime`, but an RPC the runtime does not implement is noted once and not counted as a failure. */
  async optional(rpc: string, req: object): Promise<void> {
    if (this.unimplemented.has(rpc)) return;
    try {
      await this.runtime(rpc, req);
    } catch (err) {
      if (codeOf(err) !== UNIMPLEMENTED) return;
      this.unimplemented.add(rpc);
      this.#failures.delete(rpc);
    }
  }

  /** Times `fn` under `op` (a name other than the RPC's, e.g. `PullImage:absent`). */
  async time<R>(op: string, fn: () => Promise<R>): Promise<R> {
    try {
      const { ms, value } = await timed(fn);
      this.add(op, ms);
      return value;
    } catch (err) {
      this.fail(op, err);
      throw err;
    }
  }

  summary(): Record<string, OpSummary> {
    const out: Record<string, OpSummary> = {};
    const names = new Set([...this.#samples.keys(), ...this.#failures.keys()]);
    for (const op of [...names].sort()) {
      const s = this.#samples.get(op) ?? [];
      const f = this.#failures.get(op);
      const base: Summary = s.length > 0 ? summarize(s) : { n: 0, median: NaN, p99: NaN, min: NaN, max: NaN };
      out[op] = f ? { ...base, failures: f.n, firstError: f.first } : base;
    }
    return out;
  }
}
