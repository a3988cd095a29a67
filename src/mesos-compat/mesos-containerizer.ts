import { readdirSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, statfs } from 'node:fs/promises';
import { nested, topLevel, type ContainerId } from '../common/container-id';
import type { Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import { log } from '../common/log';
import { recoveryDone, sessionOpened } from '../common/metrics';
import type { Resources } from './launch-config';
import type { ContainerStatus, Containerizer, ContainersFilter, ExecSyncResult, LaunchInfo, LaunchResult, ResourceStatistics, SandboxStatus } from './containerizer';
import { Core, type ContainerizerDeps } from './core';
import type { EventListener } from './events';
import { execPlanOf, execSync } from './exec-sync';
import type { AttachTarget, ExecTarget, IoTargets, PortForwardTarget } from './io/targets';
import { loadNetworkConfig, parsePodCidrs, saveNetworkConfig } from './network-config';
import { buildResources, clampOomScoreAdj } from './oci/resources';
import { containersDir, sandboxesDir, type Roots } from './paths';
import { checkpointContainer, type CheckpointOptions } from './checkpoint-container';
import { recover } from './recover';
import { removeContainer, removeSandbox } from './remove';
import { updateSandboxResources, type PodResources } from './sandbox-resources';
import { stopContainer, stopSandbox } from './destroy';
import { sandboxReady } from './infra';
import { launchContainer, launchSandbox, provisionerId, startContainer, updateBundleResources } from './launch';
import { unmade, type ContainerRecord, type SandboxRecord } from './state';

const isSandbox = (id: ContainerId): boolean => id.parent === undefined;

/** Size and inodes of the filesystem under `dir` (where writable layers live). */
async function filesystemOf(dir: string): Promise<{ capacityBytes: bigint; inodesTotal: bigint; inodesFree: bigint } | undefined> {
  const st = await statfs(dir, { bigint: true }).catch(() => undefined);
  return st ? { capacityBytes: st.blocks * st.bsize, inodesTotal: st.files, inodesFree: st.ffree } : undefined;
}

/** Sandbox and container checkpoint dirs on disk (for the recovery metrics). */
function checkpointDirs(roots: Roots): { sandboxes: number; containers: number } {
  const ls = (dir: string): string[] => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  const sandboxes = ls(sandboxesDir(roots));
  return { sandboxes: sandboxes.length, containers: sandboxes.reduce((n, s) => n + ls(containersDir(roots, s)).length, 0) };
}

function sandboxStatus(core: Core, sb: SandboxRecord): SandboxStatus {
  return {
    kind: 'sandbox',
    id: sb.id,
    config: sb.config,
    state: sandboxReady(core.deps.infra, sb) ? 'ready' : 'notready',
    createdAt: sb.createdAt,
    hostNetwork: sb.hostNetwork,
    ips: sb.ips,
    ...(sb.netnsPath ? { netnsPath: sb.netnsPath } : {}),
    ...(sb.infraPid !== undefined ? { infraPid: sb.infraPid } : {}),
  };
}

function containerStatus(c: ContainerRecord): ContainerStatus {
  const state = c.phase === 'created' || c.phase === 'running' || c.phase === 'exited' ? c.phase : 'unknown';
  return {
    kind: 'container',
    id: c.id,
    sandboxId: c.sandboxId,
    config: c.config,
    state,
    createdAt: c.createdAt,
    startedAt: c.startedAt ?? 0n,
    finishedAt: c.finishedAt ?? 0n,
    exitCode: c.exitCode ?? 0,
    reason: c.reason ?? '',
    message: c.message ?? '',
    ...(c.image ? { image: c.image } : {}),
    logPath: c.logPath,
    ...(c.resources ? { resources: c.resources } : {}),
    ...(c.pid !== undefined ? { pid: c.pid } : {}),
  };
}

/**
 * The Mesos containerizer over an OCI runtime and per-container monitors.
 * Sandboxes are top-level containers, CRI containers nested ones; see
 * `containerizer.ts` for the contract and `state.ts` for the phases.
 */
export class MesosContainerizer implements Containerizer, IoTargets {
  readonly #core: Core;
  #watcher: FSWatcher | undefined;
  #sweep: NodeJS.Timeout | undefined;

  constructor(deps: ContainerizerDeps) {
    this.#core = new Core(deps);
  }

  async recover(ctx: Ctx): Promise<void> {
    const started = process.hrtime.bigint();
    this.#core.networkConfig = await loadNetworkConfig(this.#core.roots);
    // Each checkpoint dir found is either recovered or cleaned up by `recover`.
    const found = checkpointDirs(this.#core.roots);
    await recover(this.#core, ctx);
    // Containers removed before a crash: their tombstones are finished behind the reply, as live removals are.
    await this.#core.sweeper.recover();
    const kept = { sandboxes: this.#core.sandboxes.size, containers: this.#core.containers.size };
    recoveryDone(Number(process.hrtime.bigint() - started) / 1e9, {
      sandboxes: { recovered: kept.sandboxes, cleaned: Math.max(0, found.sandboxes - kept.sandboxes) },
      containers: { recovered: kept.containers, cleaned: Math.max(0, found.containers - kept.containers) },
    });
    await this.#watchExits();
  }

  /** Resolves once the removals finished behind their replies (tombstones) are swept. */
  swept(): Promise<void> {
    return this.#core.sweeper.idle();
  }

  /** Stops watching exits (the daemon is shutting down; containers keep running). */
  close(): void {
    this.#watcher?.close();
    if (this.#sweep) clearInterval(this.#sweep);
  }

  /**
   * Exits are noticed as conmon writes `<exitDir>/<id>` (inotify), with a
   * slow sweep behind it in case an event is lost.
   */
  async #watchExits(): Promise<void> {
    const dir = this.#core.deps.monitorDirs.exitDir;
    await mkdir(dir, { recursive: true });
    const check = (id: string): void => {
      const c = this.#core.containers.get(id);
      if (c) void this.#core.refreshExit(c).catch((err: unknown) => log.warn({ err, containerId: id }, 'failed to read exit status'));
    };
    try {
      this.#watcher = watch(dir, (_event, file) => {
        if (file) check(file.toString());
      });
      this.#watcher.on('error', (err) => log.warn({ err }, 'exit watcher failed'));
    } catch (err) {
      log.warn({ err }, 'cannot watch the exits dir; relying on the sweep');
    }
    this.#sweep = setInterval(() => {
      for (const c of this.#core.containers.values()) if (c.phase === 'running' || c.phase === 'created') check(c.id);
    }, 2000);
    this.#sweep.unref();
  }

  async launch(id: ContainerId, info: LaunchInfo, ctx: Ctx): Promise<LaunchResult> {
    const core = this.#core;
    if (info.kind === 'sandbox') {
      if (!isSandbox(id)) throw new CriError('InvalidArgument', 'failed to launch sandbox: a sandbox is a top-level container');
      return core.sandboxLock(id.value, async () => {
        if (core.sandboxes.has(id.value)) return 'already-launched';
        await launchSandbox(core, id.value, info.config, ctx);
        return 'launched';
      });
    }
    if (!id.parent) throw new CriError('InvalidArgument', 'failed to launch container: a container is nested under its sandbox');
    const sandboxId = id.parent.value;
    return core.sandboxLock(sandboxId, () =>
      core.containerLock(id.value, async () => {
        if (core.containers.has(id.value)) return 'already-launched';
        await launchContainer(core, id.value, sandboxId, info.config, ctx);
        return 'launched';
      }),
    );
  }

  async start(id: ContainerId, ctx: Ctx): Promise<void> {
    const core = this.#core;
    // Under the sandbox's lock too: the pod cannot stop while its namespaces are being joined.
    const { sandboxId } = core.container(id.value);
    await core.sandboxLock(sandboxId, () => core.containerLock(id.value, () => startContainer(core, core.container(id.value), ctx)));
  }

  async update(id: ContainerId, resources: Resources, ctx: Ctx): Promise<void> {
    const core = this.#core;
    await core.containerLock(id.value, async () => {
      const c = core.container(id.value);
      if (c.phase !== 'created' && c.phase !== 'running') {
        throw new CriError('FailedPrecondition', `failed to update container ${c.id}: it is ${c.phase}`);
      }
      const oci = buildResources(resources, { hugetlb: core.deps.cgroups.has('hugetlb') });
      // Not in the runtime yet: the spec StartContainer will create it from carries the limits.
      if (unmade(c)) await updateBundleResources(core.bundleOf(c), oci);
      else await core.deps.runtime.update(c.id, oci, ctx);
      // The process keeps the oom_score_adj it was created with (runc update does
      // not change it); report that one, as containerd does.
      c.resources = { ...resources, oomScoreAdj: c.resources?.oomScoreAdj ?? clampOomScoreAdj(0, core.deps.oomScoreAdjFloor) };
      await core.saveContainer(c);
    });
  }

  async updateSandbox(id: ContainerId, resources: PodResources, ctx: Ctx): Promise<void> {
    if (!isSandbox(id)) throw new CriError('InvalidArgument', 'failed to update pod resources: not a sandbox');
    await this.#core.sandboxLock(id.value, () => updateSandboxResources(this.#core, this.#core.sandbox(id.value), resources, ctx));
  }

  async usage(id: ContainerId, ctx: Ctx, opts: { detail?: boolean } = {}): Promise<ResourceStatistics> {
    const core = this.#core;
    const now = core.deps.clock.nowNanos();
    if (isSandbox(id)) {
      // Each isolator measures its part: the pod cgroup, the pod's interfaces (through the infra process).
      return { timestampNs: now, ...(await core.isolators.usage(core.sandbox(id.value), ctx)) };
    }
    const c = core.container(id.value);
    // A container StartContainer has not made in the runtime has no cgroup yet.
    const live = c.phase === 'running' || (c.phase === 'created' && !unmade(c));
    const cg = live ? await core.deps.cgroups.usage(c.cgroupsPath, now) : { timestampNs: now };
    const layer = await core.deps.provisioner.usage(provisionerId(c)).catch(() => undefined);
    const out = { ...cg, ...(layer ? { writableLayer: layer } : {}) };
    if (!opts.detail || !live) return out;
    return { ...out, detail: await core.deps.cgroups.detail(c.cgroupsPath), filesystem: await filesystemOf(core.roots.workDir) };
  }

  status(id: ContainerId): SandboxStatus | ContainerStatus {
    return isSandbox(id) ? sandboxStatus(this.#core, this.#core.sandbox(id.value)) : containerStatus(this.#core.container(id.value));
  }

  async wait(id: ContainerId, ctx: Ctx): Promise<ContainerStatus> {
    const c = this.#core.container(id.value);
    for (let step = 5; !(await this.#core.refreshExit(c)); step = Math.min(step * 2, 200)) {
      ctx.signal.throwIfAborted();
      await new Promise((r) => setTimeout(r, step));
    }
    return containerStatus(c);
  }

  async kill(id: ContainerId, opts: { timeoutSeconds: number; signal?: string }, ctx: Ctx): Promise<void> {
    const core = this.#core;
    await core.containerLock(id.value, async () => {
      const c = core.containers.get(id.value);
      if (c) await stopContainer(core, c, opts, ctx);
    });
  }

  async destroy(id: ContainerId, ctx: Ctx): Promise<boolean> {
    const core = this.#core;
    if (!isSandbox(id)) {
      return core.containerLock(id.value, async () => {
        const c = core.containers.get(id.value);
        if (!c) return false;
        await stopContainer(core, c, { timeoutSeconds: 0 }, ctx);
        return true;
      });
    }
    return core.sandboxLock(id.value, async () => {
      const sb = core.sandboxes.get(id.value);
      if (!sb) return false;
      await stopSandbox(core, sb, ctx);
      return true;
    });
  }

  async remove(id: ContainerId, ctx: Ctx): Promise<boolean> {
    const core = this.#core;
    if (!isSandbox(id)) {
      const sandboxId = core.containers.get(id.value)?.sandboxId ?? id.parent?.value ?? '';
      return core.sandboxLock(sandboxId, () =>
        core.containerLock(id.value, async () => {
          const c = core.containers.get(id.value);
          if (!c) return false;
          await removeContainer(core, c, ctx);
          return true;
        }),
      );
    }
    return core.sandboxLock(id.value, async () => {
      const sb = core.sandboxes.get(id.value);
      if (!sb) return false;
      await removeSandbox(core, sb, ctx);
      return true;
    });
  }

  containers(filter: { kind: 'sandbox' }): SandboxStatus[];
  containers(filter: { kind: 'container'; sandboxId?: string }): ContainerStatus[];
  containers(filter?: ContainersFilter): Array<SandboxStatus | ContainerStatus>;
  containers(filter: ContainersFilter = {}): Array<SandboxStatus | ContainerStatus> {
    const out: Array<SandboxStatus | ContainerStatus> = [];
    if (filter.kind !== 'container' && filter.sandboxId === undefined) {
      for (const sb of this.#core.sandboxes.values()) out.push(sandboxStatus(this.#core, sb));
    }
    if (filter.kind !== 'sandbox') {
      for (const c of this.#core.containers.values()) if (filter.sandboxId === undefined || c.sandboxId === filter.sandboxId) out.push(containerStatus(c));
    }
    return out;
  }

  lookup(id: string): ContainerId | undefined {
    if (this.#core.sandboxes.has(id)) return topLevel(id);
    const c = this.#core.containers.get(id);
    return c ? nested(topLevel(c.sandboxId), id) : undefined;
  }

  async reopenLog(id: ContainerId, ctx: Ctx): Promise<void> {
    const core = this.#core;
    await core.containerLock(id.value, async () => {
      const c = core.container(id.value);
      if (c.phase !== 'running') throw new CriError('FailedPrecondition', `failed to reopen the log of container ${c.id}: it is not running`);
      await core.deps.monitor.reopenLog(core.bundleOf(c), ctx);
    });
  }

  async checkpoint(id: ContainerId, opts: CheckpointOptions, ctx: Ctx): Promise<void> {
    const core = this.#core;
    if (isSandbox(id)) throw new CriError('InvalidArgument', 'failed to checkpoint: a pod sandbox is not a container');
    await core.containerLock(id.value, () => checkpointContainer(core, core.container(id.value), opts, ctx));
  }

  async execSync(id: ContainerId, cmd: readonly string[], opts: { timeoutSeconds: number }, ctx: Ctx): Promise<ExecSyncResult> {
    const c = this.#core.container(id.value);
    if (c.phase !== 'running') throw new CriError('FailedPrecondition', `failed to exec in container ${c.id}: it is not running`);
    return execSync(this.#core, c, cmd, opts, ctx).finally(sessionOpened('exec_sync'));
  }

  async updateNetworkConfig(podCidr: string, _ctx: Ctx): Promise<void> {
    const podCidrs = parsePodCidrs(podCidr);
    // containerd, too, leaves its config alone when kubelet sends no CIDR.
    if (podCidrs.length === 0) return;
    const next = { podCidrs };
    await saveNetworkConfig(this.#core.roots, next);
    this.#core.networkConfig = next;
  }

  subscribe(listener: EventListener): () => void {
    return this.#core.events.subscribe(listener);
  }

  async pruneImages(excludedImages: readonly string[], ctx: Ctx): Promise<void> {
    await this.#core.deps.provisioner.pruneImages(excludedImages, ctx);
  }

  /** `IoTargets`: a running container, or the CRI error kubelet should see. */
  #runningContainer(containerId: string): ContainerStatus {
    const id = this.lookup(containerId);
    const st = id?.parent ? (this.status(id) as ContainerStatus) : undefined;
    if (!st) throw new CriError('NotFound', `container ${JSON.stringify(containerId)} not found`);
    if (st.state !== 'running') throw new CriError('FailedPrecondition', `container ${JSON.stringify(containerId)} is not running`);
    return st;
  }

  /** `IoTargets`: the native exec helper and the running container's exec plan. */
  async execTarget(containerId: string): Promise<ExecTarget> {
    const st = this.#runningContainer(containerId);
    const c = this.#core.container(st.id);
    return { containerId: st.id, helper: this.#core.deps.execHelper, plan: await execPlanOf(this.#core, c), spawner: this.#core.deps.spawnServer };
  }

  /** `IoTargets`: the endpoints of the monitor that runs the container. */
  async attachTarget(containerId: string): Promise<AttachTarget> {
    const st = this.#runningContainer(containerId);
    const bundle = this.#core.bundleOf(this.#core.container(st.id));
    const monitor = this.#core.deps.monitor;
    return { containerId: st.id, attachSocket: monitor.attachSocket(bundle), ctlFifo: monitor.controlFifo(bundle), tty: st.config.tty, stdinOnce: st.config.stdinOnce };
  }

  /** `IoTargets`: a ready sandbox's network namespace (none for host network). */
  async portForwardTarget(sandboxId: string): Promise<PortForwardTarget> {
    const id = this.lookup(sandboxId);
    const st = id && !id.parent ? (this.status(id) as SandboxStatus) : undefined;
    if (!st) throw new CriError('NotFound', `pod sandbox ${JSON.stringify(sandboxId)} not found`);
    if (st.state !== 'ready') throw new CriError('FailedPrecondition', `pod sandbox ${JSON.stringify(sandboxId)} is not ready`);
    return { sandboxId: st.id, netnsPath: st.hostNetwork ? undefined : st.netnsPath };
  }

  /**
   * The runtime handler of the pod `id` (a sandbox or container id) belongs
   * to: the one RunPodSandbox resolved, else the requested one (`''`: the
   * default; a record from before named handlers has neither resolved). `undefined`: no record.
   */
  runtimeHandlerOf(id: string): string | undefined {
    const sb = this.#core.sandboxes.get(this.#core.containers.get(id)?.sandboxId ?? id);
    return sb ? (sb.config.runtime ?? sb.config.runtimeHandler) : undefined;
  }
}
