import type { Readable, Writable } from 'node:stream';

/**
 * The client side of an exec or attach session. Structurally the same as the
 * streaming server's `StreamIO` (`src/streaming/runtime.ts`), restated
 * here because `src/mesos-compat` must not import from `src/shim`; the
 * containerizer passes the server's object straight through.
 */
export interface SessionIO {
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  readonly tty: boolean;
  readonly resize?: AsyncIterable<SessionTerminalSize>;
}

export interface SessionTerminalSize {
  readonly width: number;
  readonly height: number;
}

/**
 * Feeds terminal sizes to `apply` until the iterable ends or `signal` aborts.
 * Sizes with a zero side are skipped, as containerd does (a 0x0 window
 * confuses full-screen programs). Never rejects.
 */
export async function pumpResizes(
  sizes: AsyncIterable<SessionTerminalSize> | undefined,
  signal: AbortSignal,
  apply: (size: SessionTerminalSize) => void,
): Promise<void> {
  if (!sizes) return;
  try {
    for await (const size of sizes) {
      if (signal.aborted) return;
      if (size.width >= 1 && size.height >= 1) apply({ width: Math.min(size.width, 65535), height: Math.min(size.height, 65535) });
    }
  } catch {
    // The resize stream failing only means no more resizes.
  }
}

/** Resolves once `signal` aborts; never rejects. The listener goes away with `signal`. */
export const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
