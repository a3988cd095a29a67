import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { background } from '../../common/ctx';
import { CriError } from '../../common/errors';
import type { SpawnServer } from '../../common/spawn-server';

export interface NativeExecOptions {
  readonly helper: string;
  /** The container's `exec.plan` (see `exec-plan.ts`). */
  readonly plan: string;
  readonly containerId: string;
  readonly tty: boolean;
  /** Which of the process's stdio the caller wires; the others are /dev/null. */
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  /** How long output may sit idle after the exit before it is cut (default 2 s). */
  readonly drainMs?: number;
  /** Starts the helper without forking the daemon (whose loop a fork stalls for milliseconds); default: forked. */
  readonly spawner?: SpawnServer;
}

/** A process started in a container by `native/mesos-cri-exec`. */
export interface NativeExec {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  resize(rows: number, cols: number): void;
  /** SIGKILL to the process's group (through the helper; its whole group if the helper does not answer). */
  kill(): void;
  /**
   * The exit code (128+n for signal n). Rejects with a `CriError` when the
   * process could not be started: `FailedPrecondition` when the container's
   * process is gone, `Internal` otherwise, with the helper's reason.
   */
  readonly done: Promise<number>;
}

/** How long the helper gets to answer a kill before its whole process group is killed. */
const KILL_GRACE_MS = 5_000;
/** Output a background child keeps open, idle, must not hold the caller past the exit for longer. */
const DRAIN_MS = 2_000;

interface Report {
  readonly exitCode?: number;
  readonly error?: string;
}

/** The helper's process as either way of starting it gives it. */
interface HelperChild extends OutputSource {
  readonly pid?: number;
  readonly stdio: ReadonlyArray<Readable | Writable | null | undefined>;
  readonly stdin: Writable | null;
  once(event: 'exit', fn: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'close', fn: () => void): unknown;
}

/** Forked from the daemon, started once it exec'd. */
function forked(helper: string, args: string[], stdio: Array<'pipe' | 'ignore'>): Promise<HelperChild> {
  // Its own process group, so the last-resort kill takes the helper and whatever it left.
  const child = spawn(helper, args, { stdio, detached: true });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => {
      child.off('error', reject);
      resolve(child);
    });
  });
}

/**
 * Starts the helper. Rejects with `Internal` when it cannot be started;
 * its `done` rejects when it could not start the command.
 */
export async function startNativeExec(cmd: readonly string[], o: NativeExecOptions): Promise<NativeExec> {
  const args = [...(o.tty ? ['-t'] : []), o.plan, ...cmd];
  const wanted = [o.stdin, o.stdout, o.stderr && !o.tty, true, true];
  let child: HelperChild;
  try {
    child = o.spawner
      ? await o.spawner.piped(o.helper, args, wanted.flatMap((w, fd) => (w ? [fd] : [])), background())
      : await forked(o.helper, args, wanted.map((w) => (w ? 'pipe' : 'ignore')));
  } catch (err) {
    throw new CriError('Internal', `failed to exec in container ${o.containerId}: cannot run ${o.helper}`, { cause: err });
  }
  const ctl = child.stdio[3] as Writable | null;
  ctl?.on('error', () => undefined);
  child.stdin?.on('error', () => undefined);
  const report = readReport(child.stdio[4] as Readable | null);
  let killTimer: NodeJS.Timeout | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const done = (async (): Promise<number> => {
    try {
      const [{ code, signal }, rep] = await Promise.all([exited, report]);
      await drained(child, o.drainMs ?? DRAIN_MS);
      if (rep?.exitCode !== undefined) return rep.exitCode;
      const why = rep?.error ?? `exec helper exited ${code ?? signal}`;
      throw new CriError(/ is gone/.test(why) ? 'FailedPrecondition' : 'Internal', `failed to exec in container ${o.containerId}: ${why}`);
    } catch (err) {
      if (err instanceof CriError) throw err;
      throw new CriError('Internal', `failed to exec in container ${o.containerId}: cannot run ${o.helper}`, { cause: err });
    } finally {
      clearTimeout(killTimer);
      ctl?.destroy();
    }
  })();
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    resize(rows, cols) {
      if (ctl && !ctl.destroyed) ctl.write(`r ${rows} ${cols}\n`);
    },
    kill() {
      if (ctl && !ctl.destroyed) ctl.write('k\n');
      killTimer ??= setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }, KILL_GRACE_MS);
    },
    done,
  };
}

/** The helper's one JSON line on fd 4, or `undefined` if it closed without one. */
function readReport(pipe: Readable | null): Promise<Report | undefined> {
  if (!pipe) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let buf = '';
    pipe.on('data', (b: Buffer) => (buf += b.toString()));
    pipe.on('error', () => undefined);
    pipe.once('close', () => {
      const line = buf.split('\n')[0] ?? '';
      try {
        resolve(line ? (JSON.parse(line) as Report) : undefined);
      } catch {
        resolve(undefined);
      }
    });
  });
}

/**
 * Resolves when `child`'s stdout and stderr closed, or once they sat idle
 * for `ms`: a background child may hold them open forever. Output still
 * on its way, or held back because the reader is slow (a client's flow
 * control), is not idle; never rejects.
 *
 * NOTE: a stream the reader paused or resumed during the interval counts as
 * busy too. Right after a slow reader drains, `resume()` has run but the next
 * chunk is still on its way from the pipe: the stream is neither paused nor
 * buffering, and judging it by that instant alone cut the tail of the output.
 */
export function drained(child: OutputSource, ms: number): Promise<void> {
  const open = [child.stdout, child.stderr].filter((s): s is Readable => !!s && !s.destroyed && !s.readableEnded);
  if (open.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let moved = false;
    const onActivity = (): void => {
      moved = true;
    };
    const timer = setInterval(() => {
      if (moved || open.some((s) => s.readableLength > 0 || s.isPaused())) {
        moved = false;
        return;
      }
      done();
    }, ms);
    function done(): void {
      clearInterval(timer);
      child.off('close', done);
      for (const s of open) for (const ev of ACTIVITY) s.off(ev, onActivity);
      resolve();
    }
    for (const s of open) for (const ev of ACTIVITY) s.on(ev, onActivity);
    child.once('close', done);
  });
}

/** What `drained` watches: a child's output pipes and its 'close' (all pipes shut, process gone). */
export interface OutputSource {
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  once(event: 'close', fn: () => void): unknown;
  off(event: 'close', fn: () => void): unknown;
}

/** Events that show output is still moving or held back by its reader. */
const ACTIVITY = ['data', 'pause', 'resume'] as const;
