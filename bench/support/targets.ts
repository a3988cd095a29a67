/**
 * The two runtimes every benchmark runs against, behind one shape: mesos-cri
 * (our daemon, `node dist/src/main.js`, on temp dirs and its own cgroup
 * parent) and the reference containerd 1.6. Both are reached only through
 * their CRI sockets, and both are torn down completely by `stop()`.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TestRegistry } from '../../e2e/support/registry';
import { startContainerd } from './containerd';
import { connect, removePod, type CriEndpoint } from './cri';
import { alive, processesMatching, removeNewCgroups, signal, unmountUnder, waitGone } from './host';
import { startMesosCri } from './mesos-cri';

export type TargetName = 'mesos-cri' | 'containerd';

export interface Target {
  readonly name: TargetName;
  readonly cri: CriEndpoint;
  /** The CRI socket, for benches that open their own client. */
  readonly socket: string;
  /** The daemon process alone (no helpers). */
  readonly daemonPid: number;
  /** A dir owned by this target, for pod log directories. */
  readonly scratch: string;
  /**
   * The `runc --root` its containers live under, for measuring plain runc
   * beside the runtime (mesos-cri's is a guess at its default: check for
   * `<root>/<id>/state.json` before use).
   */
  readonly runcRoot: string;
  /** The runtime's own processes (daemon plus per-pod/per-container helpers), not the workloads. */
  runtimePids(): number[];
  /** Removes every pod, stops the runtime and everything it left; throws if something stayed. */
  stop(): Promise<void>;
}

export interface TargetOptions {
  readonly registry: TestRegistry;
  /** Only containerd needs one: mesos-cri bind-mounts `catatonit` as its infra process. */
  readonly pauseRef: string;
}

export async function startTarget(name: TargetName, opts: TargetOptions): Promise<Target> {
  return name === 'containerd' ? containerdTarget(opts) : mesosCriTarget();
}

async function containerdTarget(opts: TargetOptions): Promise<Target> {
  const c = await startContainerd({ registry: opts.registry, pauseRef: opts.pauseRef });
  return { name: 'containerd', cri: c, socket: c.socket, daemonPid: c.pid, scratch: c.layout.base, runcRoot: join(c.layout.runcRoot, 'k8s.io'), runtimePids: () => c.runtimePids(), stop: () => c.stop() };
}

export interface MesosCriTargetOptions {
  /** Environment for the daemon (e.g. `MESOS_CRI_BENCH_UNFILTERED=1`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Tells two daemons of one run apart (their cgroup parents). */
  readonly tag?: string;
}

export async function mesosCriTarget(o: MesosCriTargetOptions = {}): Promise<Target> {
  // A cgroup parent of our own, so cleanup can remove exactly what this run created.
  const cgroupName = `mcri-bench-${process.pid}${o.tag ? `-${o.tag}` : ''}`;
  // MESOS_CRI_BENCH_ARGS: extra daemon flags, e.g. `--runtime-path /path/to/a/runc/wrapper` to time the runtime.
  const extra = (process.env.MESOS_CRI_BENCH_ARGS ?? '').split(' ').filter(Boolean);
  const d = await startMesosCri({ args: ['--cgroup-parent', `/${cgroupName}`, '--log-level', 'info', ...extra], ...(o.env ? { env: o.env } : {}) });
  const cri = connect(d.socket);
  const stop = async (): Promise<void> => {
    const left: string[] = [];
    try {
      const { items } = await cri.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {}, 10_000);
      for (const p of items) await removePod(cri, p.id).catch((err: unknown) => left.push(`pod ${p.id}: ${String(err)}`));
    } catch (err) {
      left.push(`ListPodSandbox: ${String(err)}`);
    }
    cri.close();
    // SIGTERM leaves containers running by design (they survive restarts), so
    // whatever is still running below our dirs or in our cgroups is killed here.
    await d.stop();
    const stragglers = processesMatching(d.base);
    for (const pid of stragglers) signal(pid, 'SIGKILL');
    if (!(await waitGone(stragglers, 5_000))) left.push(`processes alive: ${stragglers.filter(alive).join(',')}`);
    const cgroups = await removeNewCgroups(cgroupName, new Set());
    if (cgroups.length > 0) left.push(`cgroups: ${cgroups.join(',')}`);
    const mounts = unmountUnder(d.base);
    if (mounts.length > 0) left.push(`mounts: ${mounts.join(',')}`);
    else rmSync(d.base, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`failed to clean up mesos-cri completely: ${left.join('; ')}`);
  };
  return {
    name: 'mesos-cri',
    cri,
    socket: d.socket,
    daemonPid: d.pid,
    scratch: d.base,
    // `--runtime-root` defaults to `<runDir>/<runtime>`; runc is what `auto` picks on this host.
    runcRoot: join(d.base, 'run', 'runc'),
    runtimePids: () => [d.pid, ...processesMatching(d.base).filter((p) => p !== d.pid)],
    stop,
  };
}
