import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { topLevel } from '../common/container-id';
import type { Ctx } from '../common/ctx';
import { isErrno } from '../common/fsutil';
import { log } from '../common/log';
import { provisionerId } from './container-lifecycle';
import type { Core } from './core';
import { containerDir, containersDir, sandboxDir, sandboxesDir } from './paths';
import { killMonitorsUnder } from './monitor-procs';
import { containerName, sandboxName } from './registrar';
import { cleanupSandbox } from './sandbox-lifecycle';
import { HALF_MADE, type ContainerRecord, type SandboxRecord } from './state';

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}

async function load<T>(what: string, fn: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    // A torn or foreign file: the checkpoint is atomic, so this is not ours to keep.
    log.warn({ err, what }, 'ignoring unreadable checkpoint');
    return undefined;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A container's monitor may still be running `runtime create` when the
 * daemon that launched it died: wait (bounded) until the runtime reports the
 * container made or the monitor is gone, so the delete that follows finds
 * whatever the create left rather than racing it.
 */
async function settleMonitor(core: Core, c: ContainerRecord, ctx: Ctx, ms: number): Promise<void> {
  const pidFile = join(core.bundleOf(c), 'conmon-pidfile');
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    const st = await core.deps.runtime.state(c.id, ctx).catch(() => undefined);
    if (st && st.status !== 'creating') return;
    const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
    if (!(pid > 0) || !alive(pid)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  log.warn({ containerId: c.id }, 'the monitor of a half-created container did not settle');
}

/**
 * Mesos recovery, in its order: the launcher (checkpoints, the runtime's
 * view, monitors' exit files; orphans destroyed), then the isolators
 * (network), then the provisioner (rootfses of unknown containers).
 */
export async function recover(core: Core, ctx: Ctx): Promise<void> {
  const { deps } = core;
  const halfSandboxes: SandboxRecord[] = [];
  const halfContainers: ContainerRecord[] = [];

  for (const sid of await list(sandboxesDir(core.roots))) {
    const sb = await load(`sandbox ${sid}`, () => core.loadSandbox(sid));
    if (!sb) {
      // Killed between creating the dir and the first checkpoint.
      log.info({ sandboxId: sid }, 'cleaning up a half-created sandbox without a checkpoint');
      await killMonitorsUnder(sandboxDir(core.roots, sid), { sandboxId: sid });
      await deps.runtime.delete(sid, ctx).catch(() => false);
      await rm(sandboxDir(core.roots, sid), { recursive: true, force: true });
      continue;
    }
    for (const cid of await list(containersDir(core.roots, sid))) {
      const c = await load(`container ${cid}`, () => core.loadContainer(sid, cid));
      if (!c) {
        log.info({ containerId: cid }, 'cleaning up a half-created container without a checkpoint');
        await killMonitorsUnder(containerDir(core.roots, sid, cid), { containerId: cid });
        await deps.runtime.delete(cid, ctx).catch(() => false);
        await core.removeMonitorFiles(cid);
        await rm(containerDir(core.roots, sid, cid), { recursive: true, force: true });
        continue;
      }
      if (HALF_MADE.has(c.phase) || sb.phase === 'preparing') halfContainers.push(c);
      else core.containers.set(cid, c);
    }
    if (sb.phase === 'preparing') halfSandboxes.push(sb);
    else core.sandboxes.set(sid, sb);
  }

  // Half-made containers: the client never got their ids.
  for (const c of halfContainers) {
    log.info({ containerId: c.id, phase: c.phase }, 'cleaning up a half-created container');
    if (c.phase === 'isolating') await settleMonitor(core, c, ctx, 10_000);
    // Its monitor, if one was spawned: still blocked on its start pipe (the
    // client never let it go) or the parent of a container being deleted.
    await killMonitorsUnder(containerDir(core.roots, c.sandboxId, c.id), { containerId: c.id });
    await deps.runtime.delete(c.id, ctx).catch(() => false);
    await deps.provisioner.destroy(provisionerId(c), ctx).catch((err: unknown) => log.warn({ err, containerId: c.id }, 'failed to destroy rootfs'));
    await core.removeMonitorFiles(c.id);
    await rm(containerDir(core.roots, c.sandboxId, c.id), { recursive: true, force: true });
  }
  for (const sb of halfSandboxes) {
    log.info({ sandboxId: sb.id }, 'cleaning up a half-created sandbox');
    await cleanupSandbox(core, sb, ctx);
    await deps.provisioner.destroy(topLevel(sb.id), ctx).catch((err: unknown) => log.warn({ err, sandboxId: sb.id }, 'failed to destroy rootfses'));
    if (sb.ownsPodCgroup) await deps.cgroups.remove(sb.podCgroup).catch(() => undefined);
    await rm(sandboxDir(core.roots, sb.id), { recursive: true, force: true });
  }

  // Containers that exited while we were down.
  for (const c of core.containers.values()) {
    if (c.phase !== 'created' && c.phase !== 'running') continue;
    if (await core.refreshExit(c)) continue;
    const st = await deps.runtime.state(c.id, ctx);
    if (!st || st.status === 'stopped') {
      core.markExited(c, { code: 255, at: deps.clock.nowNanos(), reason: 'Error', message: 'the container exited while its exit status could not be recorded' });
      await core.saveContainer(c);
    } else if (c.phase === 'created' && st.status === 'running') {
      c.phase = 'running';
      await core.saveContainer(c);
    }
  }

  // Orphans: runtime containers under our root that no checkpoint owns.
  const known = new Set<string>([...core.sandboxes.keys(), ...core.containers.keys()]);
  for (const st of await deps.runtime.list(ctx)) {
    if (known.has(st.id)) continue;
    log.info({ id: st.id, status: st.status }, 'destroying an orphan container');
    await deps.runtime.delete(st.id, ctx).catch((err: unknown) => log.warn({ err, id: st.id }, 'failed to destroy orphan'));
    await core.removeMonitorFiles(st.id);
  }

  for (const sb of core.sandboxes.values()) core.names.reserve(sandboxName(sb.config), sb.id);
  for (const c of core.containers.values()) {
    const sb = core.sandboxes.get(c.sandboxId);
    if (sb) core.names.reserve(containerName(c.config, sb.config), c.id);
  }

  await deps.network.recover(new Set([...core.sandboxes.values()].filter((s) => s.phase === 'running' && !s.hostNetwork).map((s) => s.id)), ctx);
  // Sandboxes are listed too: a provisioner keeps a nested rootfs only
  // under a known parent (Mesos passes every known container, parents included).
  await deps.provisioner.recover([...[...core.sandboxes.keys()].map((id) => topLevel(id)), ...[...core.containers.values()].map(provisionerId)], ctx);
}
