import { readFileSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { checkpointFault, moveAside, removeStaleTemps } from '../common/checkpoint';
import { join } from 'node:path';
import { topLevel } from '../common/container-id';
import type { Ctx } from '../common/ctx';
import { isErrno } from '../common/fsutil';
import { log } from '../common/log';
import { procStat } from '../common/native';
import { cleanupSandbox } from './destroy';
import { provisionerId } from './launch';
import type { Core } from './core';
import { containerCheckpoint, containerDir, containerizerDir, containersDir, quarantineDir, sandboxCheckpoint, sandboxDir, sandboxesDir } from './paths';
import { killMonitorsUnder } from './monitor-procs';
import type { OciState } from './oci-runtime';
import { containerName, sandboxName } from './registrar';
import { HALF_MADE, unmade, type ContainerRecord, type SandboxRecord } from './state';

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}

type Loaded<T> = { readonly kind: 'ok'; readonly value: T } | { readonly kind: 'missing' | 'corrupt' | 'untouched' };

/**
 * Reads one checkpoint, failing safe: only a missing file or an
 * unparseable one counts as "no state" (the unparseable file is moved
 * aside first, never deleted); an unreadable one (EIO, EACCES) or one of a
 * newer version stops the recovery of that object, which is then left as
 * it is, its processes, mounts, network and rootfs included.
 */
async function load<T>(core: Core, what: Record<string, string>, path: string, fn: () => Promise<T | undefined>): Promise<Loaded<T>> {
  try {
    const value = await fn();
    return value === undefined ? { kind: 'missing' } : { kind: 'ok', value };
  } catch (err) {
    if (checkpointFault(err) !== 'corrupt') {
      log.error({ err, ...what, path }, 'leaving untouched an object whose checkpoint cannot be read (fix or remove it, then restart)');
      return { kind: 'untouched' };
    }
    const aside = await moveAside(path, quarantineDir(core.roots), Object.values(what).join('-')).catch((e: unknown) => {
      log.error({ err: e, path }, 'failed to move an unparseable checkpoint aside');
      return null;
    });
    if (aside === null) return { kind: 'untouched' };
    log.warn({ err, ...what, movedTo: aside }, 'moved an unparseable checkpoint aside; cleaning up what it recorded');
    return { kind: 'corrupt' };
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
async function settleMonitor(core: Core, c: ContainerRecord, ctx: Ctx, ms: number): Promise<OciState | undefined> {
  const pidFile = join(core.bundleOf(c), 'conmon-pidfile');
  let st: OciState | undefined;
  for (const deadline = Date.now() + ms; Date.now() < deadline; ) {
    st = await core.deps.runtime.state(c.id, ctx).catch(() => undefined);
    if (st && st.status !== 'creating') return st;
    const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
    if (!(pid > 0) || !alive(pid)) return st;
    await new Promise((r) => setTimeout(r, 50));
  }
  log.warn({ containerId: c.id }, 'the monitor of a half-created container did not settle');
  return st;
}

/** A CREATED container whose process the runtime already let go (a start cut short by the restart): it runs. */
async function adoptStarted(core: Core, c: ContainerRecord, pid: number): Promise<void> {
  log.info({ containerId: c.id }, 'a start cut short by the restart had started the container');
  c.pid = pid;
  c.phase = 'running';
  // /proc's boot time has whole seconds: never before the creation.
  const began = processStartNanos(pid) ?? core.deps.clock.nowNanos();
  c.startedAt = began > c.createdAt ? began : c.createdAt;
  await core.saveContainer(c);
  core.emit('started', c.id, c.sandboxId);
}

/**
 * Mesos recovery, in its order: the launcher (checkpoints, the runtime's
 * view, monitors' exit files; orphans destroyed), then the isolators
 * (`Core.isolators`: the network drops unknown sandboxes' state), then the
 * provisioner (rootfses of unknown containers).
 */
export async function recover(core: Core, ctx: Ctx): Promise<void> {
  const { deps } = core;
  const halfSandboxes: SandboxRecord[] = [];
  const halfContainers: ContainerRecord[] = [];
  // Left as they are this time (see `load`): no sweep may touch them.
  const untouchedSandboxes = new Set<string>();
  const untouchedContainers: Array<{ sandboxId: string; id: string }> = [];

  // A kill mid-checkpoint leaves the temp file of its rename.
  await removeStaleTemps(containerizerDir(core.roots));
  for (const sid of await list(sandboxesDir(core.roots))) {
    await removeStaleTemps(sandboxDir(core.roots, sid));
    const loaded = await load(core, { sandboxId: sid }, sandboxCheckpoint(core.roots, sid), () => core.loadSandbox(sid));
    if (loaded.kind === 'untouched') {
      untouchedSandboxes.add(sid);
      for (const cid of await list(containersDir(core.roots, sid)).catch(() => [])) untouchedContainers.push({ sandboxId: sid, id: cid });
      continue;
    }
    if (loaded.kind !== 'ok') {
      // Killed between creating the dir and the first checkpoint, or a record
      // that cannot be parsed: sweep what is ours by its derived identity.
      log.info({ sandboxId: sid }, 'cleaning up a half-created sandbox without a checkpoint');
      await sweepSandbox(core, sid, ctx);
      continue;
    }
    const sb = loaded.value;
    for (const cid of await list(containersDir(core.roots, sid))) {
      await removeStaleTemps(containerDir(core.roots, sid, cid));
      const lc = await load(core, { sandboxId: sid, containerId: cid }, containerCheckpoint(core.roots, sid, cid), () => core.loadContainer(sid, cid));
      if (lc.kind === 'untouched') {
        untouchedContainers.push({ sandboxId: sid, id: cid });
        continue;
      }
      if (lc.kind !== 'ok') {
        log.info({ containerId: cid }, 'cleaning up a half-created container without a checkpoint');
        await killMonitorsUnder(containerDir(core.roots, sid, cid), { containerId: cid });
        await deps.runtime.delete(cid, ctx).catch(() => false);
        await core.removeMonitorFiles(cid);
        await rm(containerDir(core.roots, sid, cid), { recursive: true, force: true });
        continue;
      }
      const c = lc.value;
      if (HALF_MADE.has(c.phase) || sb.phase === 'preparing') halfContainers.push(c);
      else core.containers.set(cid, c);
    }
    if (sb.phase === 'preparing') halfSandboxes.push(sb);
    else core.sandboxes.set(sid, sb);
  }

  // Half-made containers: the client never got their ids.
  // A cleanup that fails (a plugin, a mount) must not keep the daemon from
  // starting: the object is left for the next start, and no sweep touches it.
  const attempt = async (what: Record<string, string>, fn: () => Promise<void>, onFail: () => void): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      log.error({ err, ...what }, 'failed to clean up a half-created object; leaving it for the next start');
      onFail();
    }
  };
  for (const c of halfContainers) await attempt({ containerId: c.id }, () => cleanupHalfContainer(core, c, ctx), () => untouchedContainers.push(c));
  for (const sb of halfSandboxes) {
    await attempt({ sandboxId: sb.id }, () => cleanupHalfSandbox(core, sb, ctx), () => {
      untouchedSandboxes.add(sb.id);
      for (const c of halfContainers) if (c.sandboxId === sb.id) untouchedContainers.push(c);
    });
  }

  // Containers that exited while we were down.
  for (const c of core.containers.values()) {
    if (c.phase !== 'created' && c.phase !== 'running') continue;
    if (unmade(c)) {
      await attempt({ containerId: c.id }, () => recoverUnmade(core, c, ctx), () => untouchedContainers.push(c));
      continue;
    }
    if (await core.refreshExit(c)) continue;
    const st = await deps.runtime.state(c.id, ctx).catch((err: unknown) => {
      log.error({ err, containerId: c.id }, 'failed to read the runtime state of a container; keeping its recorded state');
      return null;
    });
    if (st === null) continue;
    if (!st || st.status === 'stopped') {
      core.markExited(c, { code: 255, at: deps.clock.nowNanos(), reason: 'Error', message: 'the container exited while its exit status could not be recorded' });
      await core.saveContainer(c);
    } else if (c.phase === 'created' && st.status === 'running') {
      // Killed mid-StartContainer after the process was let go.
      await adoptStarted(core, c, st.pid);
    }
  }

  // Orphans: runtime containers under our root that no checkpoint owns.
  const known = new Set<string>([...core.sandboxes.keys(), ...core.containers.keys(), ...untouchedSandboxes, ...untouchedContainers.map((c) => c.id)]);
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

  await core.isolators.recover({ sandboxes: [...core.sandboxes.values()], untouched: untouchedSandboxes }, ctx);
  // Sandboxes are listed too: a provisioner keeps a nested rootfs only
  // under a known parent (Mesos passes every known container, parents included).
  await deps.provisioner.recover(
    [
      ...[...core.sandboxes.keys(), ...untouchedSandboxes, ...untouchedContainers.map((c) => c.sandboxId)].map((id) => topLevel(id)),
      ...[...core.containers.values(), ...untouchedContainers].map(provisionerId),
    ],
    ctx,
  );
  if (untouchedSandboxes.size + untouchedContainers.length > 0) {
    log.warn({ sandboxes: [...untouchedSandboxes], containers: untouchedContainers.map((c) => c.id) }, 'recovery left objects untouched whose state could not be read');
  }
}

/**
 * A CREATED container StartContainer had not made in the runtime when the
 * daemon died: a start cut short in `runtime create` is undone (the
 * container stays CREATED and can be started again), one whose process was
 * let go is running and is kept.
 */
async function recoverUnmade(core: Core, c: ContainerRecord, ctx: Ctx): Promise<void> {
  const { deps } = core;
  const st = await settleMonitor(core, c, ctx, 10_000);
  if (st?.status === 'running' && st.pid > 0) return adoptStarted(core, c, st.pid);
  const killed = await killMonitorsUnder(containerDir(core.roots, c.sandboxId, c.id), { containerId: c.id });
  if (st || killed > 0) log.info({ containerId: c.id }, 'undid a start cut short by the restart; the container stays created');
  await deps.runtime.delete(c.id, ctx);
  await core.removeMonitorFiles(c.id);
  await rm(join(core.bundleOf(c), 'conmon-pidfile'), { force: true });
}

/** A half-created container (the client never got its id): monitor, runtime state, rootfs, files. */
async function cleanupHalfContainer(core: Core, c: ContainerRecord, ctx: Ctx): Promise<void> {
  const { deps } = core;
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

async function cleanupHalfSandbox(core: Core, sb: SandboxRecord, ctx: Ctx): Promise<void> {
  const { deps } = core;
  log.info({ sandboxId: sb.id }, 'cleaning up a half-created sandbox');
  await cleanupSandbox(core, sb, ctx);
  await deps.provisioner.destroy(topLevel(sb.id), ctx).catch((err: unknown) => log.warn({ err, sandboxId: sb.id }, 'failed to destroy rootfses'));
  if (sb.ownsPodCgroup) await deps.cgroups.remove(sb.podCgroup).catch(() => undefined);
  await rm(sandboxDir(core.roots, sb.id), { recursive: true, force: true });
}

/**
 * A sandbox dir without a usable record: what this daemon would have made
 * for it, found by identities derived from the id and this instance's own
 * dirs and cgroup parent (monitors of bundles under the dir, runtime state
 * of the ids, the infra cgroup under our parent, the shm mount under our
 * run dir). The network goes with the isolator's recovery (its own
 * records), rootfses with the provisioner's. A cgroup parent kubelet named
 * is not derivable, and is left.
 */
async function sweepSandbox(core: Core, sid: string, ctx: Ctx): Promise<void> {
  const { deps } = core;
  await killMonitorsUnder(sandboxDir(core.roots, sid), { sandboxId: sid });
  for (const cid of await list(containersDir(core.roots, sid)).catch(() => [])) {
    await deps.runtime.delete(cid, ctx).catch(() => false);
    await core.removeMonitorFiles(cid);
  }
  await deps.runtime.delete(sid, ctx).catch(() => false);
  const pod = deps.cgroups.podPath(deps.cgroupParent, sid);
  // Each isolator cleans what it derives from the id (the infra cgroup, the
  // shm mount); the network leaves an orphan to its `recover`.
  await core.isolators.cleanup({ id: sid, podCgroup: pod, hostNetwork: false, orphan: true }, ctx, {
    onError: (iso, err) => log.warn({ err, sandboxId: sid, isolator: iso.name }, `failed to clean up the ${iso.name} of a sandbox without a checkpoint`),
  });
  await deps.cgroups.remove(pod).catch(() => undefined);
  await rm(sandboxDir(core.roots, sid), { recursive: true, force: true });
}

/** When `pid` started, in nanoseconds since the epoch (its start ticks after boot, USER_HZ 100). */
function processStartNanos(pid: number): bigint | undefined {
  const st = pid > 0 ? procStat(pid) : undefined;
  if (!st || !/^\d+$/.test(st.startTime)) return undefined;
  try {
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
    if (!btime) return undefined;
    return BigInt(btime) * 1_000_000_000n + BigInt(st.startTime) * 10_000_000n;
  } catch {
    return undefined;
  }
}
