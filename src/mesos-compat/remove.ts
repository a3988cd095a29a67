import { rm } from 'node:fs/promises';
import { topLevel } from '../common/container-id';
import type { Ctx } from '../common/ctx';
import { log } from '../common/log';
import type { Core } from './core';
import { stopContainer, stopSandbox } from './destroy';
import { sandboxDir } from './paths';
import { containerName, sandboxName } from './registrar';
import { stopwatch } from './stopwatch';
import type { ContainerRecord, SandboxRecord } from './state';

// Remove (CRI RemovePodSandbox and RemoveContainer): a sandbox's and a
// container's removal, side by side.

/**
 * RemovePodSandbox: stop, remove its containers (their sweeps settled),
 * then the provisioner's per-sandbox dir, the pod cgroup when it is ours,
 * and the records. Idempotent. Called under the sandbox's lock.
 */
export async function removeSandbox(core: Core, sb: SandboxRecord, ctx: Ctx): Promise<void> {
  const lap = stopwatch();
  await stopSandbox(core, sb, ctx);
  lap('stop');
  for (const c of [...core.containers.values()].filter((x) => x.sandboxId === sb.id)) {
    await core.containerLock(c.id, () => removeContainer(core, c, ctx));
  }
  // The sandbox's teardown below must not race its containers' sweeps.
  await core.sweeper.settle(sb.id);
  await core.sweeper.forget(sb.id);
  lap('containers');
  // The provisioner keeps a per-sandbox dir above its containers' rootfses.
  await core.deps.provisioner.destroy(topLevel(sb.id), ctx);
  lap('rootfs');
  // NOTE: The pod cgroup is no isolator's: it outlives StopPodSandbox.
  if (sb.ownsPodCgroup) await core.deps.cgroups.remove(sb.podCgroup);
  lap('cgroups');
  await rm(sandboxDir(core.roots, sb.id), { recursive: true, force: true });
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
