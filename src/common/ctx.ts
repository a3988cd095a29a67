/** Every async operation takes a `Ctx`; cancellation flows through `signal`. */
export interface Ctx {
  readonly signal: AbortSignal;
  /**
   * Work nobody waits on (a removed container's runtime state): the
   * commands it starts run at `LOW_PRIORITY_NICE`, so they never take a CPU
   * from the requests the daemon is answering.
   */
  readonly lowPriority?: true;
}

/** The niceness of commands started under a low-priority `Ctx`. */
export const LOW_PRIORITY_NICE = 19;

export const background = (): Ctx => ({ signal: new AbortController().signal });

export const withTimeout = (ctx: Ctx, ms: number): Ctx => ({
  signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(ms)]),
});

/**
 * A fresh, bounded context for cleanup: never the aborted request's signal
 * (containerd `util.DeferContext`).
 */
export const cleanupCtx = (ms = 60_000): Ctx => ({ signal: AbortSignal.timeout(ms) });

/** `cleanupCtx` for work done behind a reply, which nothing waits on (`Ctx.lowPriority`). */
export const sweepCtx = (ms = 60_000): Ctx => ({ ...cleanupCtx(ms), lowPriority: true });

/** The niceness of a command started under `ctx`: the one asked for, else `LOW_PRIORITY_NICE` under a low-priority one. */
export const niceFor = (ctx: Ctx, nice: number | undefined): number | undefined => nice ?? (ctx.lowPriority ? LOW_PRIORITY_NICE : undefined);

export function throwIfAborted(ctx: Ctx): void {
  ctx.signal.throwIfAborted();
}
