/**
 * Per-step durations of a multi-step operation, for the `lifecycle` trace
 * category (`MESOS_CRI_TRACE=lifecycle`): each call of the returned
 * function adds the time since the previous call to the named step.
 */
export interface Stopwatch {
  (step: string): void;
  totals(): Record<string, number>;
  /** Milliseconds since the stopwatch started. */
  elapsed(): number;
}

export function stopwatch(now: () => bigint = process.hrtime.bigint): Stopwatch {
  const totals: Record<string, number> = {};
  const start = now();
  let last = start;
  const lap = ((step: string): void => {
    const t = now();
    totals[step] = Math.round(((totals[step] ?? 0) + Number(t - last) / 1e6) * 100) / 100;
    last = t;
  }) as Stopwatch;
  lap.totals = () => ({ ...totals });
  lap.elapsed = () => Number(now() - start) / 1e6;
  return lap;
}
