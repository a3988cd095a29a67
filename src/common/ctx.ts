/** Every async operation takes a `Ctx`; cancellation flows through `signal`. */
export interface Ctx {
  readonly signal: AbortSignal;
}

export const background = (): Ctx => ({ signal: new AbortController().signal });

export const withTimeout = (ctx: Ctx, ms: number): Ctx => ({
  signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(ms)]),
});

/**
 * A fresh, bounded context for cleanup: never the aborted request's signal
 * (containerd `util.DeferContext`).
 */
export const cleanupCtx = (ms = 60_000): Ctx => ({ signal: AbortSignal.timeout(ms) });

export function throwIfAborted(ctx: Ctx): void {
  ctx.signal.throwIfAborted();
}
