import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import type { SpawnServer } from '../../common/spawn-server';
import { startNativeExec } from './native-exec';
import { pumpResizes, type SessionIO } from './session-io';

export interface ExecSessionOptions {
  /** `native/mesos-cri-exec`. */
  readonly helper: string;
  /** The container's exec plan (`ensureExecPlan`). */
  readonly plan: string;
  readonly containerId: string;
  readonly cmd: readonly string[];
  /** Starts the helper without forking the daemon; default: forked. */
  readonly spawner?: SpawnServer;
}

/**
 * A streaming exec (cri-api `Exec`): a new process in the container, started
 * by the native exec helper with the container's process spec, its stdio
 * wired to the client. Resolves with the exit code (128+n when killed by
 * signal n). Rejects with `FailedPrecondition` when the container's process
 * is gone, `Internal` when the process cannot be started, `Canceled` after
 * `ctx` aborted — by then the process group has been killed.
 *
 * Without a tty the process gets the helper's pipes as its stdio; stdin EOF
 * closes the process's stdin. With a tty the helper opens a pty in the
 * container (TERM=xterm when the container has no TERM, as containerd),
 * merges stdout and stderr onto `io.stdout`, and applies resizes; stdin EOF
 * leaves the process alone (a pty has no half-close).
 */
export async function execSession(opts: ExecSessionOptions, io: SessionIO, ctx: Ctx): Promise<number> {
  ctx.signal.throwIfAborted();
  if (opts.cmd.length === 0) throw new CriError('InvalidArgument', 'failed to exec: cmd is empty');
  const p = await startNativeExec(opts.cmd, {
    spawner: opts.spawner,
    helper: opts.helper,
    plan: opts.plan,
    containerId: opts.containerId,
    tty: io.tty,
    stdin: !!io.stdin,
    stdout: !!io.stdout,
    stderr: !!io.stderr,
  });
  if (io.stdin && p.stdin) io.stdin.pipe(p.stdin);
  // Exec output honours the client's backpressure; the server ends the client streams.
  if (io.stdout && p.stdout) p.stdout.pipe(io.stdout, { end: false });
  if (io.stderr && p.stderr) p.stderr.pipe(io.stderr, { end: false });
  const session = new AbortController();
  if (io.tty) void pumpResizes(io.resize, session.signal, (s) => p.resize(s.height, s.width));
  const onAbort = (): void => p.kill();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const code = await p.done;
    if (ctx.signal.aborted) throw new CriError('Canceled', `failed to exec in container ${opts.containerId}: cancelled`);
    return code;
  } finally {
    session.abort();
    ctx.signal.removeEventListener('abort', onAbort);
    if (io.stdin && p.stdin) io.stdin.unpipe(p.stdin);
    if (io.stdout && p.stdout) p.stdout.unpipe(io.stdout);
    if (io.stderr && p.stderr) p.stderr.unpipe(io.stderr);
    p.stdout?.destroy();
    p.stderr?.destroy();
    p.stdin?.destroy();
  }
}
