import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { PTY_HELPER_SOURCE } from './pty-helper';
import { pumpResizes, type SessionIO } from './session-io';

/** What `execSession` hands down: the runtime, the container, and the session's files. */
export interface PtyExecTarget {
  readonly runtimePath: string;
  readonly runtimeRoot: string;
  readonly containerId: string;
}

interface HelperReport {
  readonly exitCode?: number;
  readonly error?: string;
}

/** How long the helper gets to report after being told to kill, before its whole group is killed. */
const KILL_GRACE_MS = 10_000;

/**
 * A tty exec: `runc exec --detach --tty --console-socket` run by the Python
 * helper in `pty-helper.ts`, which receives the pty master, relays it over
 * its stdio, applies resizes and reports the exit code. The terminal merges
 * stdout and stderr onto `io.stdout`. Stdin EOF leaves the process alone (a
 * pty has no half-close; containerd only detaches there too).
 */
export async function ptyExec(
  target: PtyExecTarget,
  files: { dir: string; processFile: string; pidFile: string },
  io: SessionIO,
  ctx: Ctx,
): Promise<number> {
  const socket = 'console.sock';
  const runc = [
    target.runtimePath, '--root', target.runtimeRoot,
    'exec', '--process', files.processFile, '--detach', '--tty', '--console-socket', socket, '--pid-file', files.pidFile,
    target.containerId,
  ];
  // Its own process group, so the last-resort kill also takes `runc exec`.
  const child = spawn('python3', ['-c', PTY_HELPER_SOURCE, socket, files.pidFile, ...runc], {
    cwd: files.dir,
    stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const ctl = child.stdio[3] as Writable;
  const report = readReport(child.stdio[4] as Readable);
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => stderr.length < 64 && stderr.push(b));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  ctl.on('error', () => undefined);
  child.stdin!.on('error', () => undefined);
  if (io.stdin) io.stdin.pipe(child.stdin!);
  else child.stdin!.end();
  if (io.stdout) child.stdout!.pipe(io.stdout, { end: false });
  else child.stdout!.resume();

  const session = new AbortController();
  void pumpResizes(io.resize, session.signal, (s) => {
    if (!ctl.destroyed) ctl.write(`r ${s.height} ${s.width}\n`);
  });
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    if (!ctl.destroyed) ctl.write('k\n');
    killTimer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, KILL_GRACE_MS);
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const [{ code, signal }, rep] = await Promise.all([closed, report]);
    if (ctx.signal.aborted) throw new CriError('Canceled', `failed to exec in container ${target.containerId}: cancelled`);
    if (rep?.exitCode !== undefined) return rep.exitCode;
    const why = rep?.error ?? (Buffer.concat(stderr).toString().trim() || `pty helper exited ${code ?? signal}`);
    const kind = /container/i.test(why) && /does not exist|not found/i.test(why) ? 'NotFound' : 'Internal';
    throw new CriError(kind, `failed to exec in container ${target.containerId}: ${why}`);
  } finally {
    clearTimeout(killTimer);
    session.abort();
    ctx.signal.removeEventListener('abort', onAbort);
    if (io.stdin) io.stdin.unpipe(child.stdin!);
    if (io.stdout) child.stdout!.unpipe(io.stdout);
    ctl.destroy();
  }
}

/** The helper's one JSON line on fd 4, or `undefined` if it closed without one. */
function readReport(pipe: Readable): Promise<HelperReport | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    pipe.on('data', (b: Buffer) => (buf += b.toString()));
    pipe.on('error', () => undefined);
    pipe.once('close', () => {
      const line = buf.split('\n')[0] ?? '';
      try {
        resolve(line ? (JSON.parse(line) as HelperReport) : undefined);
      } catch {
        resolve(undefined);
      }
    });
  });
}
