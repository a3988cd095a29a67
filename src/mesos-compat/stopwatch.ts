/**
 * Per-step durations of a multi-step operation, for the `lifecycle` trace
 * category (`MESOS_CRI_TRACE=lifecycle`): each call of the returned
 * function adds the time since the previous call to the named step.
 */
export interface Stopwatch {
  (step: string): void;
  totals(): Record<string, number>;
}

export function stopwatch(now: () => bigint = process.hrtime.bigint): Stopwatch {
  const totals: Record<string, number> = {};
  let last = now();
  const lap = ((step: string): void => {
    const t = now();
    totals[step] = Math.round(((totals[step] ?? 0) + Number(t - last) / 1e6) * 100) / 100;
    last = t;
  }) as Stopwatch;
  lap.totals = () => ({ ...totals });
  return lap;
}
