import type { Ctx } from '../common/ctx';
import { log } from '../common/log';
import type { Core } from './core';
import { stopContainer, stopSandbox } from './destroy';
import { containerName, sandboxName } from './registrar';
import { stopwatch } from './stopwatch';
import type { ContainerRecord, SandboxRecord } from './state';

// Remove (CRI RemovePodSandbox and RemoveContainer): a sandbox's and a
// container's removal, side by side.

/**
 * RemovePodSandbox: stop, remove its containers, then move the sandbox's
 * dir to its tombstone and forget the records; its containers' sweeps, the
 * provisioner's per-sandbox dir and the pod cgroup (when it is ours) go
 * behind the reply (`Sweeper.buryPod`). Idempotent. Called under the
 * sandbox's lock.
 */
export async function removeSandbox(core: Core, sb: SandboxRecord, ctx: Ctx): Promise<void> {
  const lap = stopwatch();
  await stopSandbox(core, sb, ctx);
  lap('stop');
  for (const c of [...core.containers.values()].filter((x) => x.sandboxId === sb.id)) {
    await core.containerLock(c.id, () => removeContainer(core, c, ctx));
  }
  lap('containers');
  // NOTE: The pod cgroup is no isolator's: it outlives StopPodSandbox.
  await core.sweeper.buryPod({ id: sb.id, ...(sb.ownsPodCgroup ? { ownedPodCgroup: sb.podCgroup } : {}) });
  lap('files');
  if (log.trace('lifecycle')) log.info({ sandboxId: sb.id, ms: lap.totals() }, 'sandbox remove timings');
  core.names.release(sandboxName(sb.config), sb.id);
  core.sandboxes.delete(sb.id);
  core.emit('deleted', sb.id, sb.id);
}

/**
 * RemoveContainer: stop, then forget everything but the log file (kubelet
 * owns logs). Idempotent. The container's dir becomes a tombstone at once;
 * its runtime state, rootfs and monitor files go behind the reply
 * (`tombstones.ts`), as containerd leaves snapshots to its GC.
 */
export async function removeContainer(core: Core, c: ContainerRecord, ctx: Ctx): Promise<void> {
  await stopContainer(core, c, { timeoutSeconds: 0 }, ctx);
  await core.sweeper.bury(c.sandboxId, c.id);
  core.names.release(containerName(c.config, core.sandboxes.get(c.sandboxId)?.config ?? { name: '', namespace: '', uid: '' }), c.id);
  core.containers.delete(c.id);
  core.emit('deleted', c.id, c.sandboxId);
}
