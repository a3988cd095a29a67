import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { log } from '../../common/log';
import { ptyExec } from './pty-exec';
import { runcErrors, killByPidFile, waitClosed } from './runc-process';
import type { SessionIO } from './session-io';

export interface ExecSessionOptions {
  /** The OCI runtime binary (`OciRuntime.path`). */
  readonly runtimePath: string;
  /** Its state root (`OciRuntime.root`). */
  readonly runtimeRoot: string;
  readonly containerId: string;
  /**
   * The container's OCI `process` with `args` replaced by the command; the
   * session sets `terminal` from `io.tty` itself.
   */
  readonly processSpec: object;
  /** A directory for the session's temp files (removed afterwards); it must exist. */
  readonly workDir: string;
}

/**
 * A streaming exec (cri-api `Exec`): `runc exec` of a new process in the
 * container, its stdio wired to the client. Resolves with the exit code
 * (128+n when killed by signal n). Rejects with `NotFound` when the runtime
 * does not know the container, `Internal` when the process cannot be started,
 * `Canceled` after `ctx` aborted — by then the process has been killed.
 *
 * Without a tty, runc hands our pipes to the process as its stdio and waits
 * for it; stdin EOF closes the process's stdin. With a tty, see `pty-exec.ts`.
 */
export async function execSession(opts: ExecSessionOptions, io: SessionIO, ctx: Ctx): Promise<number> {
  ctx.signal.throwIfAborted();
  const dir = await mkdtemp(join(opts.workDir, 'exec-'));
  try {
    const processFile = join(dir, 'process.json');
    await writeFile(processFile, JSON.stringify(execProcess(opts.processSpec, io.tty)));
    const files = { dir, processFile, pidFile: join(dir, 'pid'), logFile: join(dir, 'runc.log') };
    return io.tty ? await ptyExec(opts, files, io, ctx) : await pipeExec(opts, files, io, ctx);
  } finally {
    await rm(dir, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, dir }, 'failed to remove exec session dir'));
  }
}

/**
 * The process spec runc gets: `terminal` from the session, and with a tty a
 * `TERM` when the container has none (containerd sets `TERM=xterm` too, so
 * full-screen programs work under `kubectl exec -it`).
 */
export function execProcess(spec: object, tty: boolean): object {
  const env = (spec as { env?: unknown }).env;
  const list = Array.isArray(env) ? (env as unknown[]).filter((e): e is string => typeof e === 'string') : [];
  const withTerm = tty && !list.some((e) => e.startsWith('TERM=')) ? [...list, 'TERM=xterm'] : list;
  return { ...spec, env: withTerm, terminal: tty };
}

interface SessionFiles {
  readonly processFile: string;
  readonly pidFile: string;
  readonly logFile: string;
}

async function pipeExec(opts: ExecSessionOptions, files: SessionFiles, io: SessionIO, ctx: Ctx): Promise<number> {
  const args = [
    '--root', opts.runtimeRoot,
    '--log', files.logFile, '--log-format', 'json',
    'exec', '--process', files.processFile, '--pid-file', files.pidFile, opts.containerId,
  ];
  const child = spawn(opts.runtimePath, args, {
    stdio: [io.stdin ? 'pipe' : 'ignore', io.stdout ? 'pipe' : 'ignore', io.stderr ? 'pipe' : 'ignore'],
    detached: true,
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  if (io.stdin && child.stdin) {
    // The process may exit (or close its stdin) while the client still sends.
    child.stdin.on('error', () => undefined);
    io.stdin.pipe(child.stdin);
  }
  // Exec output honours the client's backpressure; the server ends the client streams.
  if (io.stdout && child.stdout) child.stdout.pipe(io.stdout, { end: false });
  if (io.stderr && child.stderr) child.stderr.pipe(io.stderr, { end: false });
  const onAbort = (): void => void killByPidFile(files.pidFile, child, exited);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const { code, signal } = await exited;
    // Output written just before the exit may still be in the pipes; a
    // background child holding them open must not hold the session, though.
    await waitClosed(child, 2_000);
    if (ctx.signal.aborted) throw new CriError('Canceled', `failed to exec in container ${opts.containerId}: cancelled`);
    const started = await readFile(files.pidFile, 'utf8').then((t) => t.trim() !== '', () => false);
    if (!started) {
      const why = await runcErrors(files.logFile);
      const kind = /does not exist|not found/i.test(why) && /container/i.test(why) ? 'NotFound' : 'Internal';
      throw new CriError(kind, `failed to exec in container ${opts.containerId}: ${why || `runc exec exited ${code ?? signal}`}`);
    }
    return code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    if (io.stdin && child.stdin) io.stdin.unpipe(child.stdin);
    if (io.stdout && child.stdout) child.stdout.unpipe(io.stdout);
    if (io.stderr && child.stderr) child.stderr.unpipe(io.stderr);
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.stdin?.destroy();
  }
}
