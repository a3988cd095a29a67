/**
 * A reference containerd 1.6 (Debian's `/usr/bin/containerd`) for benchmarks
 * and their smoke test: its own root, state and sockets in one temp dir, the
 * CRI plugin pulling from our loopback registry, runc v2 shims with cgroupfs.
 *
 * `stop()` first lets containerd tear its pods down through CRI, then
 * removes by force whatever is left: containerd by PID, the shims it started
 * (their command line names our unique socket), runc containers under our
 * runc root, mounts below the temp dir, the cgroups of its containers
 * (`/k8s.io/<id>`), the shim sockets it made in `/run/containerd/s`. Two
 * overlapping runs (two benches at once) do not touch each other's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageServiceClient } from '../../cri/generated/runtime/v1/ImageService';
import type { RuntimeServiceClient } from '../../cri/generated/runtime/v1/RuntimeService';
import { connectCri, type CriClient } from '../../e2e/support/cri-client';
import type { TestRegistry } from '../../e2e/support/registry';
import { containerdConfig, layoutOf, type ContainerdLayout } from './containerd-config';
import { alive, cgroupsNamed, processesMatching, removeCgroups, signal, unmountUnder, waitGone } from './host';

export const CONTAINERD = '/usr/bin/containerd';
const RUNC = '/usr/sbin/runc';
const CNI_BIN = '/usr/lib/cni';
/** The namespace the CRI plugin puts everything in (and names its cgroups after). */
const NAMESPACE = 'k8s.io';
/** containerd 1.6 hard-codes the shims' socket dir, whatever `state` says. */
const SHIM_SOCKET_DIR = '/run/containerd/s';

export interface ContainerdOptions {
  readonly registry: TestRegistry;
  /** The pause image, as pushed to `registry` (e.g. by `pushPause`). */
  readonly pauseRef: string;
  /**
   * Writes a loopback-only CNI conflist so that `Status` reports NetworkReady.
   * Host-network pods do not need it (default true: it costs nothing).
   */
  readonly cniLoopback?: boolean;
  /**
   * A conflist to use instead (the differential suite's bridge): pods with
   * their own network need one whose result names an interface, or the
   * CRI plugin fails RunPodSandbox ("failed to find network info").
   */
  readonly cniConflist?: object;
}

export interface Containerd {
  readonly socket: string;
  readonly pid: number;
  readonly layout: ContainerdLayout;
  readonly runtime: CriClient<RuntimeServiceClient>;
  readonly image: CriClient<ImageServiceClient>;
  /** containerd plus the shims it started: the runtime side of its memory. */
  runtimePids(): number[];
  /** The tail of containerd's own log. */
  logs(): string;
  /** Idempotent; throws after cleaning up if something could not be removed. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null) signal(c.pid, 'SIGKILL');
});

export async function startContainerd(opts: ContainerdOptions): Promise<Containerd> {
  // Short base: shim and ttrpc socket paths must fit in sun_path (108 bytes).
  const layout = layoutOf(mkdtempSync(join(tmpdir(), 'ctrd-')));
  const cgroupsBefore = cgroupsNamed(NAMESPACE);
  const shimDirExisted = existsSync(SHIM_SOCKET_DIR);
  const runDirExisted = existsSync('/run/containerd');
  mkdirSync(layout.cniConfDir, { recursive: true });
  if (opts.cniConflist) {
    writeFileSync(join(layout.cniConfDir, '10-net.conflist'), JSON.stringify(opts.cniConflist));
  } else if (opts.cniLoopback ?? true) {
    writeFileSync(join(layout.cniConfDir, '10-loopback.conflist'), JSON.stringify({ cniVersion: '0.4.0', name: 'bench-lo', plugins: [{ type: 'loopback' }] }));
  }
  writeFileSync(layout.config, containerdConfig(layout, { registryHost: opts.registry.host, pauseRef: opts.pauseRef, runcPath: RUNC, cniBinDir: CNI_BIN }));

  const child = spawn(CONTAINERD, ['--config', layout.config], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let log = '';
  child.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-16_000)));
  const { runtime, image } = connectCri(layout.socket);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const left = await teardown({ layout, child, runtime, cgroupsBefore, shimDirExisted, runDirExisted });
    runtime.close();
    image.close();
    live.delete(child);
    if (left.length > 0) throw new Error(`failed to clean up containerd completely: ${left.join('; ')}`);
  };

  try {
    await waitReady(runtime, child, () => log);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return {
    socket: layout.socket,
    pid: child.pid!,
    layout,
    runtime,
    image,
    runtimePids: () => processesMatching(layout.base),
    logs: () => log,
    stop,
  };
}

async function waitReady(runtime: CriClient<RuntimeServiceClient>, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`containerd exited (${child.exitCode ?? child.signalCode}): ${log()}`);
    try {
      const st = await runtime.call<{ status: { conditions: Array<{ type: string; status: boolean }> } }>('Status', {}, 2_000);
      if (st.status.conditions.some((c) => c.type === 'RuntimeReady' && c.status)) return;
    } catch {
      // socket not there yet, or the CRI plugin still initialising
    }
    if (Date.now() > deadline) throw new Error(`containerd did not become ready: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface TeardownState {
  readonly layout: ContainerdLayout;
  readonly child: ChildProcess;
  readonly runtime: CriClient<RuntimeServiceClient>;
  readonly cgroupsBefore: ReadonlySet<string>;
  readonly shimDirExisted: boolean;
  readonly runDirExisted: boolean;
}

/** Returns what could not be cleaned up (empty when all is gone). */
async function teardown(s: TeardownState): Promise<string[]> {
  const { layout, child } = s;
  const left: string[] = [];
  const running = child.exitCode === null && child.signalCode === null;
  // Every container and sandbox id this containerd knows: the CRI plugin names
  // their cgroups `/k8s.io/<id>` (no cgroup parent in our pod configs).
  const runcRoot = join(layout.runcRoot, NAMESPACE);
  const tasks = join(layout.state, 'io.containerd.runtime.v2.task', NAMESPACE);
  const ids = new Set([...(running ? await criIds(s.runtime) : []), ...runcIds(runcRoot), ...listDir(tasks)]);
  // Graceful first: containerd then unmounts rootfs, deletes cgroups and shuts its shims down.
  if (running) await removeAllPods(s.runtime);
  const shimSockets = shimSocketsOf(layout);
  const shims = processesMatching(layout.socket);

  if (child.pid !== undefined && alive(child.pid)) {
    signal(child.pid, 'SIGTERM');
    if (!(await waitGone([child.pid], 10_000))) {
      signal(child.pid, 'SIGKILL');
      await waitGone([child.pid], 5_000);
    }
  }
  // Containers still under our runc root: kill and delete them, as a dead shim no longer will.
  for (const id of runcIds(runcRoot)) spawnSync(RUNC, ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore', timeout: 10_000 });
  for (const pid of shims) signal(pid, 'SIGKILL');
  if (!(await waitGone(shims, 5_000))) left.push(`shims alive: ${shims.filter(alive).join(',')}`);
  const stragglers = processesMatching(layout.base);
  for (const pid of stragglers) signal(pid, 'SIGKILL');
  if (!(await waitGone(stragglers, 5_000))) left.push(`processes alive: ${stragglers.filter(alive).join(',')}`);

  // Only our ids' cgroups: another containerd (an overlapping bench) may have its own under `k8s.io`.
  const ours = [...cgroupsNamed(NAMESPACE)].filter((d) => ids.has(d.split(`/${NAMESPACE}/`)[1]?.split('/')[0] ?? ''));
  const cgroups = await removeCgroups(ours);
  if (cgroups.length > 0) left.push(`cgroups: ${cgroups.join(',')}`);
  const lastOne = !otherContainerdAlive();
  for (const top of [...cgroupsNamed(NAMESPACE)].filter((d) => d.endsWith(`/${NAMESPACE}`))) {
    if (!s.cgroupsBefore.has(top) || lastOne) rmdirQuiet(top);
  }
  const mounts = unmountUnder(layout.base);
  if (mounts.length > 0) left.push(`mounts: ${mounts.join(',')}`);
  for (const sock of shimSockets) rmSync(sock, { force: true });
  // Only when empty, and only if we caused them to exist or no other
  // containerd is left to use them (two benches may overlap: then whichever
  // stops last removes them).
  if (!s.shimDirExisted || lastOne) rmdirQuiet(SHIM_SOCKET_DIR);
  if (!s.runDirExisted || lastOne) rmdirQuiet('/run/containerd');
  if (mounts.length === 0) rmSync(layout.base, { recursive: true, force: true });
  if (existsSync(layout.base)) left.push(`dir: ${layout.base}`);
  return left;
}

async function criIds(runtime: CriClient<RuntimeServiceClient>): Promise<string[]> {
  try {
    const pods = await runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {}, 5_000);
    const ctrs = await runtime.call<{ containers: Array<{ id: string }> }>('ListContainers', {}, 5_000);
    return [...pods.items.map((p) => p.id), ...ctrs.containers.map((c) => c.id)];
  } catch {
    return []; // unresponsive: the runc root and task dirs still name them
  }
}

async function removeAllPods(runtime: CriClient<RuntimeServiceClient>): Promise<void> {
  try {
    const { items } = await runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {}, 5_000);
    for (const p of items) {
      await runtime.call('StopPodSandbox', { pod_sandbox_id: p.id }, 20_000).catch(() => undefined);
      await runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id }, 20_000).catch(() => undefined);
    }
  } catch {
    // containerd is unresponsive: the forced path below handles it
  }
}

/** The shim socket of each task, as the shim recorded it in its bundle (`unix:///run/containerd/s/<hash>`). */
function shimSocketsOf(layout: ContainerdLayout): string[] {
  const tasks = join(layout.state, 'io.containerd.runtime.v2.task', NAMESPACE);
  const out: string[] = [];
  for (const id of listDir(tasks)) {
    try {
      const addr = readFileSync(join(tasks, id, 'address'), 'utf8').trim().replace(/^unix:\/\//, '');
      if (addr.startsWith(SHIM_SOCKET_DIR + '/')) out.push(addr);
    } catch {
      // no shim started for this task
    }
  }
  return out;
}

function runcIds(root: string): string[] {
  return listDir(root).filter((id) => existsSync(join(root, id, 'state.json')));
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Any live containerd or shim on the host (ours are gone by the time this is asked). */
function otherContainerdAlive(): boolean {
  for (const name of listDir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const comm = readFileSync(`/proc/${name}/comm`, 'utf8').trim();
      if ((comm === 'containerd' || comm.startsWith('containerd-shim')) && alive(Number(name))) return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}

function rmdirQuiet(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty or gone: leave it
  }
}
