import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { CriError } from '../../common/errors';

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

export function startNativeExec(cmd: readonly string[], o: NativeExecOptions): NativeExec {
  const child = spawn(o.helper, [...(o.tty ? ['-t'] : []), o.plan, ...cmd], {
    stdio: [o.stdin ? 'pipe' : 'ignore', o.stdout ? 'pipe' : 'ignore', o.stderr && !o.tty ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    // Its own process group, so the last-resort kill takes the helper and whatever it left.
    detached: true,
  });
  const ctl = child.stdio[3] as Writable;
  ctl.on('error', () => undefined);
  child.stdin?.on('error', () => undefined);
  const report = readReport(child.stdio[4] as Readable);
  let killTimer: NodeJS.Timeout | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
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
      ctl.destroy();
    }
  })();
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    resize(rows, cols) {
      if (!ctl.destroyed) ctl.write(`r ${rows} ${cols}\n`);
    },
    kill() {
      if (!ctl.destroyed) ctl.write('k\n');
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
function readReport(pipe: Readable): Promise<Report | undefined> {
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
