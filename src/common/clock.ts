/** Injected time (kubelet streaming `clock.Clock`). CRI timestamps are int64 nanoseconds: `bigint`. */
export interface Clock {
  nowNanos(): bigint;
  nowMs(): number;
}

export const systemClock: Clock = {
  nowNanos: () => BigInt(Date.now()) * 1_000_000n + BigInt(process.hrtime.bigint() % 1_000_000n),
  nowMs: () => Date.now(),
};
