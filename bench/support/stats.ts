/** Timing and summary helpers shared by the benchmarks. */

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p99: number;
  readonly min: number;
  readonly max: number;
}

const round = (v: number, digits = 2): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** Nearest-rank quantiles (no interpolation): p99 of 50 samples is the maximum. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('failed to summarize: no samples');
  const s = [...samples].sort((a, b) => a - b);
  const rank = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  return { n: s.length, median: round(rank(0.5)), p99: round(rank(0.99)), min: round(s[0]!), max: round(s[s.length - 1]!) };
}

/** Milliseconds `fn` took, measured with the monotonic clock. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

/** Runs `fn` `warmup` times unmeasured, then `n` times measured; returns the samples in ms. */
export async function sample(n: number, fn: () => Promise<unknown>, warmup = 3): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await timed(fn)).ms);
  return out;
}

/** `ours / reference`, rounded; undefined when either side is missing. */
export function ratio(ours: number | undefined, reference: number | undefined): number | undefined {
  if (ours === undefined || reference === undefined || reference === 0) return undefined;
  return round(ours / reference, 3);
}

export const mbPerSec = (bytes: number, ms: number): number => round(bytes / (1024 * 1024) / (ms / 1000), 1);
