import type { Readable } from 'node:stream';
import type { Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import type { ExecSyncResult } from './containerizer';
import type { Core } from './core';
import { ensureExecPlan } from './io/exec-plan';
import { startNativeExec } from './io/native-exec';
import type { ContainerRecord } from './state';

/** Output beyond this per stream is dropped (kubelet caps probe output at 16 KiB anyway). */
export const EXEC_OUTPUT_CAP = 16 * 1024 * 1024;

/**
 * The plan of a running container for `native/mesos-cri-exec`, or
 * FailedPrecondition once its process is gone. The plan is written under the
 * container's lock, after checking the container is still the running one:
 * an exec racing RemoveContainer must not write into (and so recreate) a
 * bundle being removed. The lock is not held while the command runs.
 */
export async function execPlanOf(core: Core, c: ContainerRecord): Promise<string> {
  const plan = await core.containerLock(c.id, async () => {
    if (core.containers.get(c.id) !== c || c.phase !== 'running' || !c.pid) return undefined;
    return ensureExecPlan(core.bundleOf(c), c.pid);
  });
  if (!plan) throw new CriError('FailedPrecondition', `failed to exec in container ${c.id}: it is not running`);
  return plan;
}

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
export async function execSync(core: Core, c: ContainerRecord, cmd: readonly string[], opts: { timeoutSeconds: number }, ctx: Ctx): Promise<ExecSyncResult> {
  if (cmd.length === 0) throw new CriError('InvalidArgument', 'failed to exec: cmd is empty');
  const plan = await execPlanOf(core, c);
  const p = startNativeExec(cmd, { helper: core.deps.execHelper, plan, containerId: c.id, tty: false, stdin: false, stdout: true, stderr: true });
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
    if (timedOut) throw new CriError('DeadlineExceeded', `failed to exec in container ${c.id}: command timed out after ${opts.timeoutSeconds}s`);
    if (ctx.signal.aborted) throw new CriError('Canceled', `failed to exec in container ${c.id}: cancelled`);
    return { exitCode, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
  } finally {
    if (timer) clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}
