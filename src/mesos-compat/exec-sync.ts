import type { Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import type { ExecSyncResult } from './containerizer';
import type { Core } from './core';
import { ensureExecPlan } from './io/exec-plan';
import { execSyncSession } from './io/exec-sync-session';
import type { ContainerRecord } from './state';

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

/** ExecSync: the running container's exec target, run by the IO switchboard (`io/exec-sync-session.ts`). */
export async function execSync(core: Core, c: ContainerRecord, cmd: readonly string[], opts: { timeoutSeconds: number }, ctx: Ctx): Promise<ExecSyncResult> {
  if (cmd.length === 0) throw new CriError('InvalidArgument', 'failed to exec: cmd is empty');
  const plan = await execPlanOf(core, c);
  return execSyncSession({ containerId: c.id, helper: core.deps.execHelper, plan, spawner: core.deps.spawnServer }, cmd, opts, ctx);
}
