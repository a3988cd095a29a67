import { rm } from 'node:fs/promises';
import type { Clock } from '../common/clock';
import { CriError } from '../common/errors';
import type { Exec } from '../common/exec';
import type { SpawnServer } from '../common/spawn-server';
import { KeyedMutex } from '../common/keyed-mutex';
import { log } from '../common/log';
import { containerOomKilled } from '../common/metrics';
import { loadRecord, saveRecord } from './codec';
import { CriuProbe } from './criu';
import { EventBus, type ContainerEventType } from './events';
import { infraAlive, type InfraLauncher } from './infra';
import type { Cgroups } from './isolators/cgroups';
import { SandboxCgroupsIsolator } from './isolators/cgroups-isolator';
import { IsolatorList } from './isolators/isolator';
import { SandboxNetworkIsolator, type WriteSandboxFiles } from './isolators/network-isolator';
import { SandboxShmIsolator } from './isolators/shm-isolator';
import type { NetworkIsolator } from './isolators/network';
import type { ShmIsolator } from './isolators/shm';
import type { Monitor } from './monitor';
import { EMPTY_NETWORK_CONFIG, type NetworkConfig } from './network-config';
import type { OciRuntime } from './oci-runtime';
import { containerBundle, containerCheckpoint, containerPersistDir, sandboxCheckpoint, type Roots } from './paths';
import { Registrar } from './registrar';
import type { RootfsProvisioner } from './rootfs-provisioner';
import type { SpecBuilder } from './spec-builder';
import type { ContainerRecord, SandboxRecord } from './state';
import { Sweeper } from './tombstones';

export type { WriteSandboxFiles };

/** Everything the containerizer is built from (constructor injection, STYLE.md 12). */
export interface ContainerizerDeps {
  readonly roots: Roots;
  readonly runtime: OciRuntime;
  readonly monitor: Monitor;
  readonly specs: SpecBuilder;
  readonly provisioner: RootfsProvisioner;
  readonly network: NetworkIsolator;
  readonly cgroups: Cgroups;
  /** Starts and kills pods' infra processes. */
  readonly infra: InfraLauncher;
  readonly shm: ShmIsolator;
  readonly clock: Clock;
  readonly exec: Exec;
  /** Host path of the static infra binary (`catatonit`). */
  readonly infraPath: string;
  /** The native exec helper (`native/mesos-cri-exec`). */
  readonly execHelper: string;
  /** Starts exec helpers without forking the daemon, when there is one. */
  readonly spawnServer?: SpawnServer;
  /** cgroup parent of pods that do not name one. */
  readonly cgroupParent: string;
  /** Lowest `oom_score_adj` the host lets us give (the daemon's own when restricted). */
  readonly oomScoreAdjFloor: number;
  readonly writeFiles: WriteSandboxFiles;
  /** Where `/etc` files of the monitor dirs for exits and sockets live (conmon's shared dirs). */
  readonly monitorDirs: { readonly exitDir: string; readonly socketDir: string };
  /** Whether CRIU works here (CheckpointContainer); default: `criu check`, asked once. */
  readonly criu?: Pick<CriuProbe, 'status'>;
}

/**
 * The containerizer's shared state: records, locks, name registrar,
 * event bus, the sandboxes' isolators, and the checkpoint writers. The
 * verbs operate on it, one module each: `launch` (RunPodSandbox,
 * CreateContainer, StartContainer), `destroy` (the stops), `remove`,
 * `recover`, and `io/` (exec, attach, port-forward, ExecSync).
 */
export class Core {
  readonly sandboxes = new Map<string, SandboxRecord>();
  readonly containers = new Map<string, ContainerRecord>();
  readonly names = new Registrar();
  readonly mutex = new KeyedMutex();
  readonly events = new EventBus();
  /** Containers inside `runtime start`: their exit must be recorded after their start. */
  readonly starting = new Set<string>();
  /** The node's pod CIDRs (`UpdateRuntimeConfig`), passed to CNI at each attach. */
  networkConfig: NetworkConfig = EMPTY_NETWORK_CONFIG;

  readonly criu: Pick<CriuProbe, 'status'>;
  /**
   * The sandboxes' isolators, in launch order (Mesos `isolators`): launch
   * prepares them in this order, cleanup goes in reverse (cgroups, network,
   * shm), recovery recovers them in order.
   */
  readonly isolators: IsolatorList;
  /** Finishes RemoveContainer's teardown behind the reply. */
  readonly sweeper = new Sweeper(this);

  constructor(readonly deps: ContainerizerDeps) {
    this.criu = deps.criu ?? new CriuProbe(deps.exec);
    this.isolators = new IsolatorList([
      new SandboxShmIsolator(deps.shm, deps.roots),
      new SandboxNetworkIsolator({
        network: deps.network,
        writeFiles: deps.writeFiles,
        roots: deps.roots,
        infraAlive: (sb) => infraAlive(deps.infra, sb),
      }),
      new SandboxCgroupsIsolator(deps.cgroups, () => deps.clock.nowNanos()),
    ]);
  }

  get roots(): Roots {
    return this.deps.roots;
  }

  /**
   * Records are runtime state: each change is appended to the record's
   * file (`appendCheckpoint`: a daemon killed mid-write leaves the state
   * before it, and the page cache keeps the file across a daemon crash),
   * not fsynced. Only a host crash could lose one, and a host crash takes
   * the containers with it: `recover` then finds their processes gone
   * either way. The fsyncs cost 5-10 ms each on the pod start path (ext4
   * commits its whole journal). The state is serialized and written
   * before this returns, so writes land in call order and a later change
   * to `rec` cannot leak into an earlier write.
   */
  saveSandbox(rec: SandboxRecord): Promise<void> {
    return saveRecord(sandboxCheckpoint(this.roots, rec.id), rec);
  }

  saveContainer(rec: ContainerRecord): Promise<void> {
    return saveRecord(containerCheckpoint(this.roots, rec.sandboxId, rec.id), rec);
  }

  loadSandbox(id: string): Promise<SandboxRecord | undefined> {
    return loadRecord<SandboxRecord>(sandboxCheckpoint(this.roots, id));
  }

  loadContainer(sandboxId: string, id: string): Promise<ContainerRecord | undefined> {
    return loadRecord<ContainerRecord>(containerCheckpoint(this.roots, sandboxId, id));
  }

  sandboxLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(`sandbox:${id}`, fn);
  }

  containerLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(`container:${id}`, fn);
  }

  emit(type: ContainerEventType, containerId: string, sandboxId: string): void {
    this.events.emit({ type, containerId, sandboxId, at: this.deps.clock.nowNanos() });
  }

  sandbox(id: string): SandboxRecord {
    const sb = this.sandboxes.get(id);
    if (!sb) throw new CriError('NotFound', `pod sandbox ${id} not found`);
    return sb;
  }

  container(id: string): ContainerRecord {
    const c = this.containers.get(id);
    if (!c) throw new CriError('NotFound', `container ${id} not found`);
    return c;
  }

  bundleOf(c: Pick<ContainerRecord, 'sandboxId' | 'id'>): string {
    return containerBundle(this.roots, c.sandboxId, c.id);
  }

  persistOf(c: Pick<ContainerRecord, 'sandboxId' | 'id'>): string {
    return containerPersistDir(this.roots, c.sandboxId, c.id);
  }

  /**
   * Folds the monitor's exit record into a created/running container.
   * Lock-free on purpose: `kill` polls it while holding the container's lock.
   * Returns true when the container is (now) exited.
   */
  async refreshExit(c: ContainerRecord): Promise<boolean> {
    if (c.phase === 'exited') return true;
    if (c.phase !== 'created' && c.phase !== 'running') return false;
    // `start` folds the exit in itself once it has recorded the start.
    if (this.starting.has(c.id)) return false;
    const st = await this.deps.monitor.exitStatus({ bundle: this.bundleOf(c), persistDir: this.persistOf(c) });
    if (!st) return false;
    if ((c.phase as string) === 'exited') return true;
    this.markExited(c, { code: st.code, at: st.at, reason: st.oomKilled ? 'OOMKilled' : st.code === 0 ? 'Completed' : 'Error' });
    await this.saveContainer(c);
    return true;
  }

  markExited(c: ContainerRecord, st: { code: number; at: bigint; reason: string; message?: string }): void {
    c.phase = 'exited';
    c.exitCode = st.code;
    c.finishedAt = c.startedAt !== undefined && st.at < c.startedAt ? c.startedAt : st.at;
    c.reason = st.reason;
    if (st.message !== undefined) c.message = st.message;
    if (st.reason === 'OOMKilled') containerOomKilled();
    // A container that never started still finished: CRI wants started_at
    // left at zero, which is what an unset `startedAt` renders as.
    this.emit('stopped', c.id, c.sandboxId);
    log.debug({ containerId: c.id, exitCode: st.code, reason: st.reason }, 'container exited');
  }

  async removeMonitorFiles(id: string): Promise<void> {
    await rm(`${this.deps.monitorDirs.exitDir}/${id}`, { force: true });
    await rm(`${this.deps.monitorDirs.socketDir}/${id}`, { force: true });
  }
}
