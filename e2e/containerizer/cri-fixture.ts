import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { codeOf } from '../support/cri-client';
import type { Daemon } from '../support/daemon';

/**
 * CRI requests in wire form (snake_case, int64 as strings, enums as
 * strings) and the polling and leak-check helpers the daemon-level
 * containerizer tests share.
 */

export type Wire = Record<string, unknown>;

export const GRPC = { OK: 0, INVALID_ARGUMENT: 3, NOT_FOUND: 5, ALREADY_EXISTS: 6, FAILED_PRECONDITION: 9 } as const;

/** A cgroup parent no other test or daemon uses. */
export const testCgroupParent = (): string => `/mesos-cri-e2e-${randomBytes(4).toString('hex')}`;

export interface PodOptions {
  readonly hostNetwork?: boolean;
  readonly privileged?: boolean;
  readonly labels?: Record<string, string>;
  readonly attempt?: number;
  readonly uid?: string;
  readonly extra?: Wire;
}

export function podConfig(name: string, logDirectory: string, o: PodOptions = {}): Wire {
  return {
    metadata: { name, namespace: 'e2e', uid: o.uid ?? `uid-${name}`, attempt: o.attempt ?? 0 },
    // A host-network pod keeps the node's hostname: kubelet sends none, and a runtime refuses one.
    ...(o.hostNetwork === false ? { hostname: name } : {}),
    log_directory: logDirectory,
    labels: { pod: name, ...o.labels },
    linux: {
      security_context: {
        privileged: o.privileged ?? false,
        namespace_options: { network: o.hostNetwork === false ? 'POD' : 'NODE', pid: 'CONTAINER', ipc: 'POD' },
      },
    },
    ...o.extra,
  };
}

export function ctrConfig(name: string, image: string, command: string[] | undefined, extra: Wire = {}): Wire {
  return {
    metadata: { name, attempt: 0 },
    image: { image },
    ...(command ? { command } : {}),
    log_path: `${name}.log`,
    ...extra,
  };
}

/** A pod in the daemon: its id and config (CreateContainer wants it back). */
export interface Pod {
  readonly id: string;
  readonly config: Wire;
  readonly logDir: string;
}

export async function runPod(d: Daemon, name: string, o: PodOptions = {}): Promise<Pod> {
  const logDir = join(d.base, 'pods', name);
  const config = podConfig(name, logDir, o);
  const { pod_sandbox_id } = await d.runtime.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config });
  return { id: pod_sandbox_id, config, logDir };
}

export async function createCtr(d: Daemon, pod: Pod, config: Wire): Promise<string> {
  const { container_id } = await d.runtime.call<{ container_id: string }>('CreateContainer', {
    pod_sandbox_id: pod.id,
    config,
    sandbox_config: pod.config,
  });
  return container_id;
}

export interface CtrStatus {
  id: string;
  state: string;
  exit_code: number;
  reason: string;
  message: string;
  created_at: string;
  started_at: string;
  finished_at: string;
  log_path: string;
  resources?: { linux?: Record<string, unknown> } | null;
}

export async function ctrStatus(d: Daemon, id: string): Promise<CtrStatus> {
  return (await d.runtime.call<{ status: CtrStatus }>('ContainerStatus', { container_id: id })).status;
}

/** Polls `fn` until it returns a value other than `undefined`. */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let step = 10; ; step = Math.min(step * 2, 200)) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, step));
  }
}

/**
 * Waits until the sweeps of RemoveContainer and RemovePodSandbox (which run
 * behind their replies) have emptied every tombstone, so that what is left
 * on disk can be compared.
 */
export async function waitSwept(d: Daemon, timeoutMs = 15_000): Promise<void> {
  const tombstones = join(d.workDir, 'containerizer', 'tombstones');
  // Swept: no removed container or sandbox left in a tombstone, and no tombstone dir of a sandbox that is gone.
  const buried = async (): Promise<number> => {
    if (!existsSync(tombstones)) return 0;
    const live = new Set((await d.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {})).items.map((p) => p.id));
    // A sandbox's tombstone dir may go between the two reads: gone is swept.
    const entries = (dir: string): number | undefined => {
      try {
        return readdirSync(dir).length;
      } catch {
        return undefined;
      }
    };
    return readdirSync(tombstones).reduce((n, s) => {
      const inside = entries(join(tombstones, s));
      return inside === undefined ? n : n + inside + (live.has(s) ? 0 : 1);
    }, 0);
  };
  await until('removed containers and sandboxes to be swept', async () => ((await buried()) === 0 ? true : undefined), timeoutMs);
}

export const waitExited = (d: Daemon, id: string, timeoutMs = 30_000): Promise<CtrStatus> =>
  until(`container ${id.slice(0, 12)} to exit`, async () => {
    const st = await ctrStatus(d, id);
    return st.state === 'CONTAINER_EXITED' ? st : undefined;
  }, timeoutMs);

const CRI_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([PF]) (.*)$/;

export interface LogLine {
  readonly time: string;
  readonly stream: 'stdout' | 'stderr';
  readonly tag: 'P' | 'F';
  readonly text: string;
}

/** Parses a CRI log file; throws on a line that is not in CRI format. */
export function readCriLog(path: string): LogLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = CRI_LINE.exec(l);
      if (!m) throw new Error(`not a CRI log line: ${JSON.stringify(l.slice(0, 200))}`);
      return { time: m[1]!, stream: m[2] as 'stdout' | 'stderr', tag: m[3] as 'P' | 'F', text: m[4]! };
    });
}

/** Full lines of one stream, partial pieces joined. */
export function logText(lines: readonly LogLine[], stream: 'stdout' | 'stderr' = 'stdout'): string[] {
  const out: string[] = [];
  let cur = '';
  for (const l of lines) {
    if (l.stream !== stream) continue;
    cur += l.text;
    if (l.tag === 'F') {
      out.push(cur);
      cur = '';
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** Runs a container to its exit; returns its status and stdout lines. */
export async function runToExit(d: Daemon, pod: Pod, config: Wire, timeoutMs = 30_000): Promise<{ id: string; st: CtrStatus; out: string[]; err: string[] }> {
  const id = await createCtr(d, pod, config);
  await d.runtime.call('StartContainer', { container_id: id });
  const st = await waitExited(d, id, timeoutMs);
  const lines = readCriLog(st.log_path);
  return { id, st, out: logText(lines, 'stdout'), err: logText(lines, 'stderr') };
}

export async function execSync(d: Daemon, id: string, cmd: string[], timeout = 10): Promise<{ stdout: string; stderr: string; exit_code: number }> {
  const r = await d.runtime.call<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: id, cmd, timeout: String(timeout) });
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), exit_code: r.exit_code };
}

/** The gRPC code and message of a call expected to fail. */
export async function failure(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    return { code: codeOf(err), details: String((err as { details?: string }).details ?? err) };
  }
  throw new Error('expected the call to fail');
}

// ---- leak checks -------------------------------------------------------

/** Mount points at or below `dir`. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(dir + '/'));
}

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function cgroupOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Live processes that belong to the test's daemon: conmon/runc (their
 * command lines name the daemon's dirs) and anything in the test's cgroup
 * parent (infra processes and containers).
 */
export function processesOf(base: string, cgroupParent: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    const cmd = cmdline(pid);
    if (!cmd) continue; // kernel thread or gone
    const stat = (() => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        return '';
      }
    })();
    if (/\) Z /.test(stat)) continue;
    if (cmd.includes(base) && /conmon|runc|catatonit/.test(cmd)) out.push({ pid: Number(pid), cmd });
    else if (cgroupOf(pid).includes(`${cgroupParent}/`)) out.push({ pid: Number(pid), cmd });
  }
  return out;
}

/** Every mounted hierarchy (v1 controllers, named ones, the v2 mount) and the root itself for pure v2. */
function hierarchies(): string[] {
  const root = '/sys/fs/cgroup';
  if (existsSync(join(root, 'cgroup.controllers'))) return [root];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(root, e.name));
}

/** cgroup directories below `parent` in any hierarchy. */
export function cgroupsUnder(parent: string): string[] {
  const out: string[] = [];
  for (const h of hierarchies()) {
    const dir = join(h, parent);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      try {
        if (statSync(p).isDirectory()) out.push(p);
      } catch {
        // raced with removal
      }
    }
  }
  return out;
}

/**
 * Removes the test cgroup parent from every hierarchy; children first. What
 * still runs in it (a test that failed before stopping its pods) is killed
 * first: everything under the test's own parent is the test's.
 */
export function removeCgroupTree(parent: string): void {
  const rm = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
    const procs = existsSync(join(dir, 'cgroup.procs')) ? readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean) : [];
    if (procs.length > 0) {
      killPids(procs.map(Number));
      for (let i = 0; i < 50 && readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== ''; i++) spawnSync('sleep', ['0.02']);
    }
    try {
      rmdirSync(dir);
    } catch {
      // busy: a leak the test reports elsewhere
    }
  };
  for (const h of hierarchies()) rm(join(h, parent));
}

/**
 * The end of a daemon test: every pod still there removed (RemovePodSandbox
 * stops it first), the daemon stopped and its dirs gone, the test's cgroup
 * parent removed (killing whatever a failed test left in it).
 */
export async function tearDown(d: Daemon | undefined, cgroupParent: string): Promise<void> {
  if (d) {
    const { items } = await d.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {}).catch(() => ({ items: [] }));
    for (const p of items) await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
    await d.cleanup();
  }
  removeCgroupTree(cgroupParent);
}

/** Pinned netns files left in the daemon's run dir. */
export function netnsPins(runDir: string): string[] {
  const dir = join(runDir, 'netns');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** SIGKILLs processes by pid (leftovers of a failed test). */
export function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
