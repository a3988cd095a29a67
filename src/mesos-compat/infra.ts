import { chmod, copyFile, mkdir, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeAtomic } from '../common/checkpoint';
import type { Ctx } from '../common/ctx';
import type { Exec } from '../common/exec';
import { procStat } from '../common/native';
import { CriError } from '../common/errors';
import { escape, processLines, seccompLines } from './io/exec-plan';
import { sysctlPath } from './oci/sysctls';
import type { OciSpec } from './oci/types';

/**
 * The pod's infra process without an OCI runtime: `native/mesos-cri-exec -d`
 * does in a few milliseconds what `runc run -d` did in 30-45 (two Go
 * processes and a re-exec). The sandbox's OCI spec stays the single
 * description of the infra process; this turns it into the helper's plan:
 * the pod's /dev/shm, its namespaces (the pinned netns joined, the others
 * created), hostname and sysctls, the pod cgroup, and `catatonit -P` run
 * with the spec's user,
 * no capabilities at all, no_new_privs, oom_score_adj and seccomp filter.
 * The helper gives it a mount namespace of its own whose root is an empty
 * read-only tmpfs (pivot_root'ed, the host's tree detached), a fresh
 * session keyring, and a private copy of the binary it cannot read, so it
 * is not dumpable: a pod's process cannot ptrace it or walk its
 * /proc/<pid>/root. It needs no /proc, /dev or /sys, and the pod's
 * containers join only its IPC, UTS, network and PID namespaces.
 */
export interface InfraPlanInput {
  readonly spec: OciSpec;
  /** The sandbox bundle; the plan is written there. */
  readonly bundle: string;
  /** Host path of the static infra binary. */
  readonly exe: string;
  /** The empty directory the process is chrooted to. */
  readonly root: string;
  /** Where the pod's /dev/shm tmpfs is mounted. */
  readonly shm: string;
  /** The infra cgroup's directory in every hierarchy (created beforehand). */
  readonly cgroupDirs: readonly string[];
}

const NS: Record<string, string | undefined> = { pid: 'pid', network: 'net', ipc: 'ipc', uts: 'uts' };

export function infraPlanText(i: InfraPlanInput): string {
  const lines = [`shm ${escape(i.shm)}`, `exe ${escape(i.exe)}`, `root ${escape(i.root)}`];
  for (const ns of i.spec.linux.namespaces) {
    const name = NS[ns.type];
    // `mount` is left out on purpose (see above); `user` and `cgroup` are never asked for.
    if (!name) continue;
    lines.push(ns.path ? `join ${name} ${escape(ns.path)}` : `unshare ${name}`);
  }
  if (i.spec.hostname) lines.push(`hostname ${escape(i.spec.hostname)}`);
  // The helper takes the /proc/sys path and the value up to the end of the line.
  for (const [k, v] of Object.entries(i.spec.linux.sysctl ?? {})) lines.push(`sysctl ${escape(sysctlPath(k))} ${escape(v)}`);
  for (const dir of i.cgroupDirs) lines.push(`cgroup ${escape(dir)}`);
  // No capability at all, whatever the pod's containers get: the infra process needs none.
  const none = { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] };
  lines.push(...processLines({ ...i.spec.process, cwd: '/', capabilities: none }));
  if (i.spec.linux.seccomp) lines.push(...seccompLines(i.spec.linux.seccomp));
  return lines.join('\n') + '\n';
}

/** A running infra process; `startTime` (`/proc/<pid>/stat` field 22) tells a recycled pid apart. */
export interface InfraProcess {
  readonly pid: number;
  readonly startTime?: string;
}

/** Starts, watches and kills pods' infra processes (the launcher's part for top-level containers). */
export interface InfraLauncher {
  /** Resolves once the process runs; rejects with a CriError saying why it could not start. */
  start(input: InfraPlanInput, ctx: Ctx): Promise<InfraProcess>;
  /** Reads `/proc` rather than signalling: a dead infra may linger as a zombie when pid 1 does not reap. */
  alive(p: InfraProcess): boolean;
  /** SIGKILL, then wait (bounded) until it is gone. Idempotent. */
  kill(p: InfraProcess): Promise<void>;
}

export class NativeInfraLauncher implements InfraLauncher {
  #exe: Promise<string> | undefined;

  /** `exeDir`: where the unreadable copy of the infra binary is kept (the daemon's run dir). */
  constructor(
    private readonly helper: string,
    private readonly run: Exec,
    private readonly exeDir?: string,
  ) {}

  async start(input: InfraPlanInput, ctx: Ctx): Promise<InfraProcess> {
    const exe = this.exeDir ? await (this.#exe ??= unreadableCopy(input.exe, this.exeDir).catch((err: unknown) => {
      this.#exe = undefined;
      throw err;
    })) : input.exe;
    const pid = await startInfra(this.run, this.helper, join(input.bundle, 'infra.plan'), { ...input, exe }, ctx);
    const startTime = procStat(pid)?.startTime;
    return startTime ? { pid, startTime } : { pid };
  }

  alive(p: InfraProcess): boolean {
    const st = procStat(p.pid);
    if (!st || (p.startTime !== undefined && st.startTime !== p.startTime)) return false;
    return st.state !== 'Z' && st.state !== 'X';
  }

  async kill(p: InfraProcess): Promise<void> {
    if (!this.alive(p)) return;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    const deadline = Date.now() + 5_000;
    for (let step = 1; this.alive(p) && Date.now() < deadline; step = Math.min(step * 2, 50)) {
      await new Promise((r) => setTimeout(r, step));
    }
  }
}

/**
 * One copy of the infra binary, mode 0111, for every pod: exec'ing a file
 * its user cannot read leaves the process non-dumpable (no ptrace, no
 * /proc/<pid>/root for the pod's processes), and one file shares its page
 * cache across pods. Written once per daemon start, atomically (a temp name
 * in the same directory, then rename). The helper makes a private in-memory
 * copy of any binary it is given that is still readable.
 */
async function unreadableCopy(src: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o711 });
  const dst = join(dir, basename(src));
  const tmp = `${dst}.${process.pid}.tmp`;
  await copyFile(src, tmp);
  await chmod(tmp, 0o111);
  await rename(tmp, dst);
  return dst;
}

/**
 * Writes the plan beside the bundle and starts the infra process; resolves
 * with its pid once it has exec'd. The process is nobody's child: like
 * `runc run -d`, the helper exits right away. The helper prints the pid on
 * stdout, or its reason on stderr; it runs through `exec` (the daemon's
 * spawn server).
 */
async function startInfra(run: Exec, helper: string, planFile: string, input: InfraPlanInput, ctx: Ctx): Promise<number> {
  await writeAtomic(planFile, infraPlanText(input), { sync: false });
  const r = await run(helper, ['-d', planFile, ...input.spec.process.args], ctx, { check: false });
  const pid = Number.parseInt(r.stdout.toString().trim(), 10);
  if (r.code === 0 && pid > 0) return pid;
  const why = r.stderr.toString().trim().replace(/^mesos-cri-exec: /, '') || `exec helper exited ${r.signal ?? r.code}`;
  throw new CriError('Internal', `failed to start the infra process: ${why}`);
}

/** The infra process a sandbox record names (pid and start time, so a reused pid is not taken for it). */
export const infraProcessOf = (rec: { readonly infraPid?: number; readonly infraStart?: string }): InfraProcess => ({
  pid: rec.infraPid ?? 0,
  ...(rec.infraStart !== undefined ? { startTime: rec.infraStart } : {}),
});

/** Whether a sandbox record's infra process is alive and still the one it started (not a reused pid). */
export const infraAlive = (infra: Pick<InfraLauncher, 'alive'>, rec: { readonly infraPid?: number; readonly infraStart?: string }): boolean =>
  rec.infraPid !== undefined && infra.alive(infraProcessOf(rec));

/** A sandbox that runs (CRI SANDBOX_READY): in its running phase, and its infra process alive and still its own. */
export const sandboxReady = (infra: Pick<InfraLauncher, 'alive'>, sb: { readonly phase: string; readonly infraPid?: number; readonly infraStart?: string }): boolean =>
  sb.phase === 'running' && infraAlive(infra, sb);
