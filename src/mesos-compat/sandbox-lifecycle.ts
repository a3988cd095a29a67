import { mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupCtx, type Ctx } from '../common/ctx';
import { CriError, findCriError } from '../common/errors';
import { Rollback } from '../common/rollback';
import type { SandboxConfig } from './config';
import type { Core } from './core';
import { log } from '../common/log';
import { observePhases } from '../common/metrics';
import type { InfraProcess } from './infra';
import { stopwatch } from './stopwatch';
import { infraCgroupOf } from './isolators/cgroups-isolator';
import { sandboxBundle, sandboxDir } from './paths';
import { sandboxName } from './registrar';
import type { SandboxFiles, SandboxRecord } from './state';

/** The pod-level cgroup: kubelet's when it names one, else ours under the daemon's parent. */
export function podCgroupOf(core: Core, id: string, config: SandboxConfig): { path: string; owned: boolean } {
  if (config.cgroupParent) return { path: core.deps.cgroups.checkParent(config.cgroupParent), owned: false };
  return { path: core.deps.cgroups.podPath(core.deps.cgroupParent, id), owned: true };
}

/**
 * RunPodSandbox as a top-level launch: the isolators prepare in order (shm
 * mount point, network with the pod's files, infra cgroup; `Core.isolators`),
 * then the spec and the infra process with the pod's shm, namespaces and
 * cgroup (`infra.ts`: the native helper, no OCI runtime and no monitor: it
 * has no output worth keeping). A failure undoes it all: `cleanupSandbox`
 * walks every isolator in reverse, prepared or not.
 */
export async function launchSandbox(core: Core, id: string, config: SandboxConfig, ctx: Ctx): Promise<void> {
  const { deps } = core;
  const name = sandboxName(config);
  const lap = stopwatch();
  await using rollback = new Rollback();
  core.names.reserve(name, id);
  // The infra process is moved into the pod's cgroup once the files are done.
  deps.cgroups.warmMigrations();
  rollback.add('release sandbox name', async () => core.names.release(name, id));

  const hostNetwork = config.security.namespaces.network === 'node';
  const cg = podCgroupOf(core, id, config);
  const rec: SandboxRecord = {
    id,
    config,
    phase: 'preparing',
    createdAt: deps.clock.nowNanos(),
    podCgroup: cg.path,
    ownsPodCgroup: cg.owned,
    hostNetwork,
    sharedPid: config.security.namespaces.pid === 'pod',
    ips: [],
  };
  const dir = sandboxDir(core.roots, id);
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  // Checkpoint before acting, so a crash mid-launch leaves a trace `recover` cleans.
  await core.saveSandbox(rec);
  core.sandboxes.set(id, rec);
  rollback.add('forget sandbox', async () => {
    await cleanupSandbox(core, rec, cleanupCtx());
    if (rec.ownsPodCgroup) await deps.cgroups.remove(rec.podCgroup);
    core.sandboxes.delete(id);
    await rm(dir, { recursive: true, force: true });
  });

  lap('checkpoint');
  // shm, network (with the pod's files), cgroups: see `Core.isolators`.
  const prepared = await core.isolators.prepare({
    id,
    config,
    rec,
    podCidrs: core.networkConfig.podCidrs,
    ctx,
    lap,
    checkpoint: () => core.saveSandbox(rec),
  });
  rec.files = completeFiles(id, prepared.files);

  const bundle = sandboxBundle(core.roots, id);
  const rootfs = join(bundle, 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  const spec = deps.specs.sandbox({
    id,
    config,
    rootfs,
    infraPath: deps.infraPath,
    ...(rec.netnsPath ? { netnsPath: rec.netnsPath } : {}),
    files: rec.files,
    cgroupsPath: infraCgroupOf(deps.cgroups, rec),
    oomScoreAdjFloor: deps.oomScoreAdjFloor,
  });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  lap('spec');
  try {
    const infra = await deps.infra.start({ spec, bundle, exe: deps.infraPath, root: rootfs, shm: rec.files.shm, cgroupDirs: prepared.cgroupDirs }, ctx);
    rec.infraPid = infra.pid;
    if (infra.startTime) rec.infraStart = infra.startTime;
    await deps.cgroups.adopt(infraCgroupOf(deps.cgroups, rec), infra.pid, `mesos-cri sandbox ${id}`);
  } catch (err) {
    throw findCriError(err) ?? new CriError('Internal', `failed to start the infra process of sandbox ${id}`, { cause: err });
  }
  lap('infra');
  rec.phase = 'running';
  await core.saveSandbox(rec);
  lap('checkpoint');
  rollback.commit();
  if (log.trace('lifecycle')) log.info({ sandboxId: id, ms: lap.totals() }, 'sandbox launch timings');
  observePhases('sandbox', { ...lap.totals(), total: lap.elapsed() });
  // containerd reports a sandbox's lifecycle with its id as the container id.
  core.emit('created', id, id);
  core.emit('started', id, id);
}

/**
 * Tears down what a sandbox holds on the host (infra process, then the
 * isolators in reverse: cgroups, network, shm) without touching its
 * containers or records. Idempotent.
 */
export async function cleanupSandbox(core: Core, rec: SandboxRecord, ctx: Ctx): Promise<void> {
  const lap = stopwatch();
  if (rec.infraPid) await core.deps.infra.kill(infraOf(rec));
  lap('infra');
  await core.isolators.cleanup(rec, ctx, { done: (iso) => lap(iso.name) });
  if (log.trace('lifecycle')) log.info({ sandboxId: rec.id, ms: lap.totals() }, 'sandbox cleanup timings');
}

/** What the isolators prepared, checked whole (the spec binds each file). */
function completeFiles(id: string, f: Partial<SandboxFiles>): SandboxFiles {
  if (f.hostname === undefined || f.hosts === undefined || f.resolvConf === undefined || f.shm === undefined) {
    throw new CriError('Internal', `failed to prepare the files of sandbox ${id}: the isolators left some out`);
  }
  return { hostname: f.hostname, hosts: f.hosts, resolvConf: f.resolvConf, shm: f.shm };
}

const infraOf = (rec: SandboxRecord): InfraProcess => ({ pid: rec.infraPid ?? 0, ...(rec.infraStart !== undefined ? { startTime: rec.infraStart } : {}) });

/** Whether the sandbox's infra process is alive (and is still the one we started). */
export function infraAlive(core: Core, rec: SandboxRecord): boolean {
  return rec.infraPid !== undefined && core.deps.infra.alive(infraOf(rec));
}
