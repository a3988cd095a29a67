import type { Duplex, Readable, Writable } from 'node:stream';
import type { Ctx } from '../common/ctx';

/** A terminal size as carried on the `resize` stream (cri-api `TerminalSize` is uint16 pairs). */
export interface TerminalSize {
  readonly width: number;
  readonly height: number;
}

/**
 * The client's side of one exec or attach session, as the streaming server
 * hands it to the runtime. Absent streams were not requested.
 *
 * - `stdin` ends when the client half-closes stdin (SPDY FIN, WebSocket v5
 *   close signal). Whether that closes the process's stdin or only detaches
 *   this client is the runtime's call (see `attach`).
 * - `stdout`/`stderr` are ended by the server after the call resolves, not by
 *   the runtime. Writes honour backpressure for exec; for attach they never
 *   block (a slow client loses output instead of stalling the container).
 *   Writes after the client went away are dropped without an `error` event.
 * - With `tty`, stdout carries the merged terminal output and `stderr` is
 *   absent (cri-api `ExecRequest`/`AttachRequest`).
 * - `resize` yields terminal sizes (only with `tty`), the first being the
 *   client's initial size; it ends with the session. Only the newest pending
 *   size is kept when the consumer lags.
 */
export interface StreamIO {
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  readonly tty: boolean;
  readonly resize?: AsyncIterable<TerminalSize>;
}

/**
 * What the streaming server needs from the containerizer. `ctx.signal` is
 * aborted when the client disconnects or the server stops: the runtime must
 * then end the session (exec: kill the process) without leaking anything.
 */
export interface StreamRuntime {
  /**
   * Runs `cmd` in the container and resolves with its exit code when the
   * process ends. Rejects (e.g. `CriError('NotFound')`) when it cannot start.
   */
  exec(containerId: string, cmd: readonly string[], io: StreamIO, ctx: Ctx): Promise<number>;
  /**
   * Attaches to the container's stdio; resolves when the container's output
   * ends or the client detaches (stdin EOF with tty or without `stdin_once`,
   * or `ctx` aborted). With `stdin_once` and no tty, stdin EOF closes the
   * container's stdin. Detaching never stops the container.
   */
  attach(containerId: string, io: StreamIO, ctx: Ctx): Promise<void>;
  /**
   * Relays `stream` to TCP `port` on localhost inside the sandbox's network
   * namespace, both directions, and resolves when the relay is over (either
   * side closed; the other gets at most about a second to finish). Rejects
   * when the port cannot be reached; the message is shown to the client.
   */
  portForward(sandboxId: string, port: number, stream: Duplex, ctx: Ctx): Promise<void>;
}
