import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { writeAtomic } from '../common/checkpoint';
import { dirname, join, resolve } from 'node:path';
import { nested, topLevel, type ContainerId } from '../common/container-id';
import { cleanupCtx, type Ctx } from '../common/ctx';
import { CriError, findCriError } from '../common/errors';
import { log } from '../common/log';
import { containerPhase, observePhases } from '../common/metrics';
import { Rollback } from '../common/rollback';
import type { ContainerConfig, SandboxConfig } from './launch-config';
import type { Core } from './core';
import { cleanupSandbox } from './destroy';
import { sandboxReady } from './infra';
import { infraCgroupOf } from './isolators/cgroups-isolator';
import { clampOomScoreAdj } from './oci/resources';
import type { OciResources, OciSpec } from './oci/types';
import { containerDir, sandboxBundle, sandboxDir } from './paths';
import { containerName, sandboxName } from './registrar';
import { checkStopSignal } from './signals';
import { unmade, type ContainerRecord, type SandboxFiles, type SandboxRecord } from './state';
import { stopwatch } from './stopwatch';

// Launch (Mesos `launch`, CRI RunPodSandbox, CreateContainer and
// StartContainer): a sandbox as a top-level container, a container nested
// in it, and its start, side by side.

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

/** What the isolators prepared, checked whole (the spec binds each file). */
function completeFiles(id: string, f: Partial<SandboxFiles>): SandboxFiles {
  if (f.hostname === undefined || f.hosts === undefined || f.resolvConf === undefined || f.shm === undefined) {
    throw new CriError('Internal', `failed to prepare the files of sandbox ${id}: the isolators left some out`);
  }
  return { hostname: f.hostname, hosts: f.hosts, resolvConf: f.resolvConf, shm: f.shm };
}

export const provisionerId = (c: Pick<ContainerRecord, 'sandboxId' | 'id'>): ContainerId => nested(topLevel(c.sandboxId), c.id);

/**
 * Where a container's log goes: `log_path` under the pod's `log_directory`,
 * joined as containerd joins them (an absolute `log_path` is taken relative
 * to the directory too), and refused when `..` would leave the directory.
 */
export function containerLogPath(logDirectory: string, logPath: string): string {
  const dir = resolve('/', logDirectory);
  const path = join(dir, logPath);
  if (!path.startsWith(dir.endsWith('/') ? dir : `${dir}/`) || logPath.includes('\0')) {
    throw new CriError('InvalidArgument', `failed to create container: log_path ${JSON.stringify(logPath.slice(0, 256))} leaves the pod's log_directory`);
  }
  return path;
}

/**
 * CreateContainer as a nested launch: provision the rootfs and build the
 * spec (the isolators' work: namespaces, cgroups, mounts, devices,
 * security) into the bundle. The monitor and `runtime create` wait for
 * StartContainer, as containerd makes its task there: a container that is
 * created and never started costs no process. The caller holds the
 * sandbox's lock, so the sandbox cannot stop underneath.
 */
export async function launchContainer(core: Core, id: string, sandboxId: string, config: ContainerConfig, ctx: Ctx): Promise<void> {
  const { deps } = core;
  const sb = core.sandbox(sandboxId);
  if (!sandboxReady(deps.infra, sb) || !sb.files || sb.infraPid === undefined) {
    throw new CriError('FailedPrecondition', `failed to create container in pod sandbox ${sandboxId}: the sandbox is not ready`);
  }
  const sandbox = { id: sandboxId, config: sb.config, infraPid: sb.infraPid, files: sb.files, hostNetwork: sb.hostNetwork };
  if (!config.image) throw new CriError('InvalidArgument', 'failed to create container: image is required');
  if (config.logPath && !sb.config.logDirectory) {
    throw new CriError('InvalidArgument', 'failed to create container: log_path is set but the sandbox has no log_directory');
  }
  let targetPid: number | undefined;
  if (config.security.namespaces.pid === 'target') {
    const target = core.containers.get(config.security.namespaces.targetId);
    if (!target || target.sandboxId !== sandboxId || target.pid === undefined || target.phase !== 'running') {
      throw new CriError('NotFound', `failed to create container: target container "${config.security.namespaces.targetId}" of namespace_options.target_id is not running in the pod`);
    }
    targetPid = target.pid;
  }
  const name = containerName(config, sb.config);
  const lap = stopwatch();
  await using rollback = new Rollback();
  core.names.reserve(name, id);
  rollback.add('release container name', async () => core.names.release(name, id));

  const logPath = config.logPath ? containerLogPath(sb.config.logDirectory, config.logPath) : '';
  const rec: ContainerRecord = {
    id,
    sandboxId,
    config,
    phase: 'provisioning',
    createdAt: deps.clock.nowNanos(),
    logPath,
    cgroupsPath: deps.cgroups.childPath(sb.podCgroup, id),
    // As applied: ContainerStatus reports the clamped oom_score_adj the process has.
    ...(config.resources ? { resources: { ...config.resources, oomScoreAdj: clampOomScoreAdj(config.resources.oomScoreAdj, deps.oomScoreAdjFloor) } } : {}),
  };
  const dir = containerDir(core.roots, sandboxId, id);
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  await core.saveContainer(rec);
  core.containers.set(id, rec);
  rollback.add('forget container', async () => {
    core.containers.delete(id);
    await deps.provisioner.destroy(provisionerId(rec), cleanupCtx());
    await rm(dir, { recursive: true, force: true });
  });

  lap('checkpoint');
  const bundle = core.bundleOf(rec);
  mkdirSync(bundle, { recursive: true });
  if (logPath) mkdirSync(dirname(logPath), { recursive: true });
  const { rootfs, image } = await deps.provisioner.provision(provisionerId(rec), config.image, ctx);
  lap('provision');
  rec.rootfs = rootfs;
  checkStopSignal(config.stopSignal, 'stop_signal');
  checkStopSignal(image.config.stopSignal, 'image config StopSignal');
  rec.image = { ref: config.image, id: image.id, repoDigest: image.repoDigests[0] ?? '', config: image.config };
  rec.phase = 'preparing';
  const spec = await deps.specs.container(
    {
      id,
      config,
      image: image.config,
      rootfs,
      sandbox,
      ...(targetPid !== undefined ? { targetPid } : {}),
      cgroupsPath: rec.cgroupsPath,
      oomScoreAdjFloor: deps.oomScoreAdjFloor,
      hugetlb: deps.cgroups.has('hugetlb'),
    },
    ctx,
  );
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  lap('spec');
  rec.phase = 'created';
  await core.saveContainer(rec);
  lap('checkpoint');
  rollback.commit();
  if (log.trace('lifecycle')) log.info({ containerId: id, ms: lap.totals() }, 'container launch timings');
  observePhases('container', { ...lap.totals(), create_total: lap.elapsed() }, { provision: 'rootfs' });
  core.emit('created', id, sandboxId);
}

/**
 * The monitor runs `runtime create` on the bundle CreateContainer wrote
 * (containerd's task create, at the same point of StartContainer). Its
 * failure leaves the container as containerd leaves it: exited, 128,
 * `StartError`, with the runtime's reason, and nothing of the attempt behind.
 */
async function createInRuntime(core: Core, c: ContainerRecord, ctx: Ctx): Promise<void> {
  const { deps } = core;
  // The spec joins the infra process's namespaces by pid: it must still be that process.
  const sb = core.sandboxes.get(c.sandboxId);
  if (!sb || !sandboxReady(deps.infra, sb)) {
    throw new CriError('FailedPrecondition', `failed to start container ${c.id}: its pod sandbox ${c.sandboxId} is not ready`);
  }
  // `runtime create` moves the container's init into its cgroups.
  deps.cgroups.warmMigrations();
  const t = process.hrtime.bigint();
  try {
    const { pid } = await deps.monitor.create(
      { id: c.id, bundle: core.bundleOf(c), persistDir: core.persistOf(c), logPath: c.logPath, stdin: c.config.stdin, stdinOnce: c.config.stdinOnce, tty: c.config.tty },
      ctx,
    );
    c.pid = pid;
  } catch (err) {
    await deps.runtime.delete(c.id, cleanupCtx()).catch(() => false);
    await core.removeMonitorFiles(c.id);
    const reason = findCriError(err)?.message ?? (err instanceof Error ? err.message : String(err));
    core.markExited(c, { code: START_ERROR_EXIT_CODE, at: deps.clock.nowNanos(), reason: 'StartError', message: reason });
    await core.saveContainer(c);
    throw new CriError('Unknown', `failed to start container ${c.id}: ${reason}`, { cause: err });
  }
  containerPhase('conmon_runc_create', Number(process.hrtime.bigint() - t) / 1e9);
  // Before the process is let go: a restart then finds the pid with the runtime's container.
  await core.saveContainer(c);
}

/** containerd's exit code for a container whose start failed. */
const START_ERROR_EXIT_CODE = 128;

export async function startContainer(core: Core, c: ContainerRecord, ctx: Ctx): Promise<void> {
  if (c.phase !== 'created') {
    throw new CriError('FailedPrecondition', `failed to start container ${c.id}: it is ${c.phase === 'running' ? 'already running' : c.phase}`);
  }
  if (unmade(c)) await createInRuntime(core, c, ctx);
  // Taken before `start`: the process runs from inside that call, and a
  // quick exit must not appear to finish before it started.
  const startedAt = core.deps.clock.nowNanos();
  core.starting.add(c.id);
  try {
    const t = process.hrtime.bigint();
    await core.deps.runtime.start(c.id, ctx);
    containerPhase('start', Number(process.hrtime.bigint() - t) / 1e9);
    c.phase = 'running';
    c.startedAt = startedAt;
    await core.saveContainer(c);
    core.emit('started', c.id, c.sandboxId);
  } catch (err) {
    core.starting.delete(c.id);
    await core.refreshExit(c);
    // "Already dead", "started already": the client's precondition, not our failure.
    const known = findCriError(err);
    if (known?.code === 'FailedPrecondition') throw known;
    throw new CriError('Internal', `failed to start container ${c.id}`, { cause: err });
  } finally {
    core.starting.delete(c.id);
  }
  // A process that exits at once may beat our checkpoint; fold that in now.
  await core.refreshExit(c);
}

/**
 * UpdateContainerResources before StartContainer: the new limits go into
 * the bundle's spec (what is set replaces, what is not stays), as
 * containerd updates the spec of a container without a task.
 */
export async function updateBundleResources(bundle: string, resources: OciResources): Promise<void> {
  const file = join(bundle, 'config.json');
  const spec = JSON.parse(await readFile(file, 'utf8')) as OciSpec;
  spec.linux = { ...spec.linux, resources: { ...spec.linux?.resources, ...resources } };
  // As CreateContainer wrote it (runtime state, not fsynced).
  await writeAtomic(file, JSON.stringify(spec), { sync: false, mode: 0o644 });
}
