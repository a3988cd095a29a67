import type { Readable } from 'node:stream';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import type { ExecSyncResult } from '../containerizer';
import { startNativeExec } from './native-exec';
import type { ExecTarget } from './targets';

/** Output beyond this per stream is dropped (kubelet caps probe output at 16 KiB anyway). */
export const EXEC_OUTPUT_CAP = 16 * 1024 * 1024;

function collect(stream: Readable | null, out: Buffer[]): void {
  let n = 0;
  stream?.on('data', (b: Buffer) => {
    if (n >= EXEC_OUTPUT_CAP) return;
    out.push(b.subarray(0, EXEC_OUTPUT_CAP - n));
    n += b.length;
  });
}

/**
 * ExecSync: the command in the container (its namespaces, cgroups, user,
 * capabilities, seccomp: the container's process spec) through the native
 * exec helper, with captured, bounded output. At the timeout the process's
 * group is killed and the call fails with DeadlineExceeded.
 */
export async function execSyncSession(target: ExecTarget, cmd: readonly string[], opts: { timeoutSeconds: number }, ctx: Ctx): Promise<ExecSyncResult> {
  const id = target.containerId;
  const p = await startNativeExec(cmd, { helper: target.helper, plan: target.plan, containerId: id, tty: false, stdin: false, stdout: true, stderr: true, spawner: target.spawner });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  collect(p.stdout, stdout);
  collect(p.stderr, stderr);
  let timedOut = false;
  const timer = opts.timeoutSeconds > 0 ? setTimeout(() => ((timedOut = true), p.kill()), opts.timeoutSeconds * 1000) : undefined;
  const onAbort = (): void => p.kill();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const exitCode = await p.done;
    if (timedOut) throw new CriError('DeadlineExceeded', `failed to exec in container ${id}: command timed out after ${opts.timeoutSeconds}s`);
    if (ctx.signal.aborted) throw new CriError('Canceled', `failed to exec in container ${id}: cancelled`);
    return { exitCode, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
  } finally {
    if (timer) clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}
