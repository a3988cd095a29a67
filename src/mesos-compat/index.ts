import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { systemClock, type Clock } from '../common/clock';
import type { Exec } from '../common/exec';
import { execVia, type SpawnServer } from '../common/spawn-server';
import { nativeBinary } from '../common/native';
import { writeSandboxFiles } from '../cni/files';
import { ConmonMonitor } from './conmon';
import { NativeInfraLauncher } from './infra';
import { Cgroups } from './isolators/cgroups';
import { expandSlice, SystemdManager } from './isolators/systemd-cgroups';
import { NoNetwork, type NetworkIsolator } from './isolators/network';
import { ShmIsolator } from './isolators/shm';
import { MesosContainerizer } from './mesos-containerizer';
import { buildContainerSpec } from './oci/container-spec';
import { buildSandboxSpec } from './oci/sandbox-spec';
import { exitsDir, runtimeRoot, socketsDir } from './paths';
import type { RootfsProvisioner } from './rootfs-provisioner';
import type { OciRuntime } from './oci-runtime';
import { RuncRuntime } from './runc';
import { RuntimeSet } from './runtime-set';

export type { Containerizer, ContainerStatus, LaunchInfo, ResourceStatistics, SandboxStatus } from './containerizer';
export type { ContainerEvent, ContainerEventType } from './events';
export type { NetworkIsolator } from './isolators/network';
export type { RootfsProvisioner } from './rootfs-provisioner';
export { MesosContainerizer } from './mesos-containerizer';
export { RuntimeSet } from './runtime-set';

export interface ContainerizerOptions {
  readonly workDir: string;
  readonly runDir: string;
  /** `auto`: crun on a pure cgroup v2 host, runc otherwise (crun refuses v1/hybrid layouts). */
  readonly runtime: { readonly name: 'auto' | 'runc' | 'crun'; readonly path: string; readonly root: string };
  /**
   * Named runtime handlers, the default first (`runtimes`/`defaultRuntime`);
   * a handler without `path` is the `runtime` above. Absent: that one, as `runc`.
   */
  readonly runtimes?: ReadonlyArray<RuntimeHandlerOptions>;
  readonly conmon: string;
  readonly infra: string;
  /** `native/mesos-cri-exec`; default: the one built in this checkout. */
  readonly execHelper?: string;
  readonly cgroupParent: string;
  /** `systemd`: pods as slices, containers as scopes, through `systemdSocket` (default cgroupfs). */
  readonly cgroupDriver?: 'cgroupfs' | 'systemd';
  readonly systemdSocket?: string;
  readonly restrictOomScoreAdj: boolean;
  readonly provisioner: RootfsProvisioner;
  /** The CNI isolator; without one only host-network pods run. */
  readonly network?: NetworkIsolator;
  /** The daemon's spawn server (created once in main.ts); without one, commands are forked from this process. */
  readonly spawnServer?: SpawnServer;
  /** Default: through `spawnServer`, else forked. */
  readonly exec?: Exec;
  readonly clock?: Clock;
}

export interface RuntimeHandlerOptions {
  readonly name: string;
  /** CLI flavour; empty: from the binary's name. */
  readonly type: '' | 'runc' | 'crun';
  /** Empty: `ContainerizerOptions.runtime` decides binary and root. */
  readonly path: string;
  /** Empty: `runtime.root` or `<runDir>/runc` without `path`, else `<runDir>/runtimes/<name>`. */
  readonly root: string;
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Picks the OCI runtime: the probe of the "crun where it works, runc otherwise". */
export function chooseRuntime(opts: ContainerizerOptions['runtime']): { name: 'runc' | 'crun'; path: string } {
  const pure2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const name = opts.name === 'auto' ? (pure2 && which('crun') ? 'crun' : 'runc') : opts.name;
  const path = opts.path || which(name);
  if (!path) throw new Error(`failed to find the OCI runtime ${name} in PATH`);
  return { name, path };
}

/** The daemon's own `oom_score_adj`: the floor when the host refuses lowering it. */
export function oomScoreAdjFloor(restrict: boolean): number {
  if (!restrict) return -1000;
  try {
    return Number.parseInt(readFileSync('/proc/self/oom_score_adj', 'utf8').trim(), 10) || 0;
  } catch {
    return 0;
  }
}

/** The systemd driver's D-Bus manager; undefined with cgroupfs. */
function systemdManagerFor(opts: ContainerizerOptions): SystemdManager | undefined {
  if (opts.cgroupDriver !== 'systemd') return undefined;
  const socketPath = opts.systemdSocket || '/run/systemd/private';
  return new SystemdManager({ socketPath, bus: !socketPath.endsWith('/systemd/private'), v2: existsSync('/sys/fs/cgroup/cgroup.controllers') });
}

/** With the systemd driver the pods' parent is a slice: the cgroupfs default becomes `mesos_cri.slice`. */
export function cgroupParentFor(opts: Pick<ContainerizerOptions, 'cgroupParent' | 'cgroupDriver'>): string {
  if (opts.cgroupDriver !== 'systemd') return opts.cgroupParent;
  const parent = opts.cgroupParent === '/mesos-cri' || opts.cgroupParent === '' ? 'mesos_cri.slice' : opts.cgroupParent;
  expandSlice(parent);
  return parent;
}

/** Builds the containerizer from the daemon's configuration (call `recover` before serving). */
export function createContainerizer(opts: ContainerizerOptions): MesosContainerizer {
  const roots = { workDir: opts.workDir, runDir: opts.runDir };
  const exec = opts.exec ?? execVia(opts.spawnServer);
  const systemd = systemdManagerFor(opts);
  const runtime = runtimeSet(opts, exec, !!systemd);
  const monitorDirs = { exitDir: exitsDir(roots), socketDir: socketsDir(roots) };
  const cz = new MesosContainerizer({
    roots,
    runtime,
    monitor: new ConmonMonitor({ path: opts.conmon, runtime, ...monitorDirs, spawnServer: opts.spawnServer }),
    specs: { sandbox: buildSandboxSpec, container: buildContainerSpec },
    provisioner: opts.provisioner,
    network: opts.network ?? new NoNetwork(),
    cgroups: new Cgroups(undefined, undefined, opts.spawnServer, systemd),
    infra: new NativeInfraLauncher(opts.execHelper ?? nativeBinary('mesos-cri-exec'), exec, join(opts.runDir, 'infra')),
    shm: new ShmIsolator(exec, opts.spawnServer),
    clock: opts.clock ?? systemClock,
    exec,
    infraPath: opts.infra,
    execHelper: opts.execHelper ?? nativeBinary('mesos-cri-exec'),
    ...(opts.spawnServer ? { spawnServer: opts.spawnServer } : {}),
    cgroupParent: cgroupParentFor(opts),
    oomScoreAdjFloor: oomScoreAdjFloor(opts.restrictOomScoreAdj),
    writeFiles: (dir, o) =>
      writeSandboxFiles(dir, {
        hostname: o.hostname,
        ips: o.ips,
        hostNetwork: o.hostNetwork,
        ...(o.dns ? { dns: { servers: [...o.dns.servers], searches: [...o.dns.searches], options: [...o.dns.options] } } : {}),
      }),
    monitorDirs,
  });
  runtime.handlerOf = (id) => cz.runtimeHandlerOf(id);
  return cz;
}

/** The configured runtime handlers as one `RuntimeSet` (roots: `RuntimeHandlerOptions.root`). */
export function runtimeSet(opts: Pick<ContainerizerOptions, 'runtime' | 'runtimes' | 'workDir' | 'runDir'>, exec: Exec, systemdCgroup = false): RuntimeSet {
  const roots = { workDir: opts.workDir, runDir: opts.runDir };
  const handlers = opts.runtimes?.length ? opts.runtimes : [{ name: 'runc', type: '', path: '', root: '' } as const];
  const byName = new Map<string, OciRuntime>();
  for (const h of handlers) {
    // Names come from the validated config; a path component is never one.
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(h.name)) throw new Error(`invalid runtime handler name ${JSON.stringify(h.name)}`);
    if (!h.path) {
      const rt = chooseRuntime(opts.runtime);
      byName.set(h.name, new RuncRuntime({ name: h.type || rt.name, path: rt.path, root: h.root || opts.runtime.root || runtimeRoot(roots), exec, systemdCgroup }));
      continue;
    }
    const type = h.type || (basename(h.path).startsWith('crun') ? 'crun' : 'runc');
    byName.set(h.name, new RuncRuntime({ name: type, path: h.path, root: h.root || join(opts.runDir, 'runtimes', h.name), exec, systemdCgroup }));
  }
  return new RuntimeSet(byName, handlers[0]!.name, systemdCgroup);
}
