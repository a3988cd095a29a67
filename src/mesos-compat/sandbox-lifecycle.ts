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
import { sandboxBundle, sandboxDir, sandboxFilesDir, shmDir } from './paths';
import { sandboxName } from './registrar';
import type { SandboxRecord } from './state';

/** The pod-level cgroup: kubelet's when it names one, else ours under the daemon's parent. */
export function podCgroupOf(core: Core, id: string, config: SandboxConfig): { path: string; owned: boolean } {
  if (config.cgroupParent) return { path: core.deps.cgroups.checkParent(config.cgroupParent), owned: false };
  return { path: core.deps.cgroups.podPath(core.deps.cgroupParent, id), owned: true };
}

/** The infra process's cgroup in the pod's (`<pod>/<id>`, or a scope with the systemd driver). */
export const infraCgroupOf = (core: Core, sb: Pick<SandboxRecord, 'podCgroup' | 'id'>): string => core.deps.cgroups.childPath(sb.podCgroup, sb.id);

/**
 * RunPodSandbox as a top-level launch: network (CNI isolator), pod files,
 * then the infra process with the pod's shm, namespaces and cgroup
 * (`infra.ts`: the native helper, no OCI runtime and no monitor: it has no
 * output worth keeping). Every step is undone in reverse when a later one
 * fails.
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
  if (!hostNetwork) {
    const net = await deps.network.attach(
      {
        sandboxId: id,
        podName: config.name,
        podNamespace: config.namespace,
        podUid: config.uid,
        portMappings: config.portMappings,
        ...(config.dns ? { dns: config.dns } : {}),
        ...(config.cgroupParent ? { cgroupParent: config.cgroupParent } : {}),
        ...(core.networkConfig.podCidrs.length > 0 ? { ipRanges: core.networkConfig.podCidrs } : {}),
      },
      ctx,
    );
    rec.netnsPath = net.netnsPath;
    rec.ips = [...net.ips];
    await core.saveSandbox(rec);
  }

  lap('network');
  const written = await deps.writeFiles(sandboxFilesDir(core.roots, id), {
    hostname: config.hostname,
    ...(config.dns ? { dns: config.dns } : {}),
    ips: rec.ips,
    hostNetwork,
  });
  lap('files');
  const shm = shmDir(core.roots, id);
  mkdirSync(shm, { recursive: true, mode: 0o755 });
  rec.files = { ...written, shm };

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
    cgroupsPath: infraCgroupOf(core, rec),
    oomScoreAdjFloor: deps.oomScoreAdjFloor,
  });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const cgroupDirs = await deps.cgroups.create(infraCgroupOf(core, rec));
  lap('spec');
  try {
    const infra = await deps.infra.start({ spec, bundle, exe: deps.infraPath, root: rootfs, shm, cgroupDirs }, ctx);
    rec.infraPid = infra.pid;
    if (infra.startTime) rec.infraStart = infra.startTime;
    await deps.cgroups.adopt(infraCgroupOf(core, rec), infra.pid, `mesos-cri sandbox ${id}`);
  } catch (err) {
    throw findCriError(err) ?? new CriError('Internal', `failed to start the infra process of sandbox ${id}`, { cause: err });
  }
  lap('infra');
  rec.phase = 'running';
  await core.saveSandbox(rec);
  lap('checkpoint');
  rollback.commit();
  if (log.trace('lifecycle')) log.info({ sandboxId: id, ms: lap.totals() }, 'sandbox launch timings');
  // `network` is netns + CNI ADD + its record; the CNI isolator observes `netns` and `cni` themselves.
  observePhases('sandbox', { ...lap.totals(), total: lap.elapsed() });
  // containerd reports a sandbox's lifecycle with its id as the container id.
  core.emit('created', id, id);
  core.emit('started', id, id);
}

/**
 * Tears down what a sandbox holds on the host (infra process, network, shm)
 * without touching its containers or records. Idempotent.
 */
export async function cleanupSandbox(core: Core, rec: SandboxRecord, ctx: Ctx): Promise<void> {
  const { deps } = core;
  const lap = stopwatch();
  if (rec.infraPid) await deps.infra.kill(infraOf(rec));
  // Whatever else is in the infra cgroup: an infra process started by a
  // daemon that died before it could record the pid.
  const infraCgroup = infraCgroupOf(core, rec);
  await deps.cgroups.killAll(infraCgroup);
  await deps.cgroups.remove(infraCgroup);
  lap('infra');
  if (!rec.hostNetwork) await deps.network.detach(rec.id, ctx);
  lap('network');
  await deps.shm.cleanup(shmDir(core.roots, rec.id), ctx);
  lap('shm');
  if (log.trace('lifecycle')) log.info({ sandboxId: rec.id, ms: lap.totals() }, 'sandbox cleanup timings');
}

const infraOf = (rec: SandboxRecord): InfraProcess => ({ pid: rec.infraPid ?? 0, ...(rec.infraStart !== undefined ? { startTime: rec.infraStart } : {}) });

/** Whether the sandbox's infra process is alive (and is still the one we started). */
export function infraAlive(core: Core, rec: SandboxRecord): boolean {
  return rec.infraPid !== undefined && core.deps.infra.alive(infraOf(rec));
}
