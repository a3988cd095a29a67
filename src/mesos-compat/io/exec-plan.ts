import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../../common/checkpoint';
import { CriError } from '../../common/errors';
import { exists } from '../../common/fsutil';
import { parseMountInfo } from '../../common/mountinfo';
import { procStat } from '../../common/native';
import { KNOWN_CAPABILITIES } from '../oci/capabilities';
import type { OciNamespaceType, OciProcess, OciSeccomp, OciSpec } from '../oci/types';

/**
 * The exec plan: what `native/mesos-cri-exec` needs to start a process in
 * a running container the way `runc exec` would (runc's setns init), as
 * one `key value...` record per line. It is derived once per container
 * from its OCI spec, its init process and that process's cgroups, and
 * kept beside the bundle (`exec.plan`), so an exec costs one fork of a
 * small C program instead of runc's Go start-up and re-exec.
 */
export interface InitProcess {
  readonly pid: number;
  /** `/proc/<pid>/stat` field 22: the helper refuses a recycled pid. */
  readonly startTime: string;
}

/** libseccomp's action values (`seccomp.h`). */
const SCMP_ACT: Record<string, (errno: number) => number> = {
  SCMP_ACT_KILL: () => 0x00000000,
  SCMP_ACT_KILL_THREAD: () => 0x00000000,
  SCMP_ACT_KILL_PROCESS: () => 0x80000000,
  SCMP_ACT_TRAP: () => 0x00030000,
  SCMP_ACT_ERRNO: (e) => (0x00050000 | (e & 0xffff)) >>> 0,
  SCMP_ACT_TRACE: (e) => (0x7ff00000 | (e & 0xffff)) >>> 0,
  SCMP_ACT_LOG: () => 0x7ffc0000,
  SCMP_ACT_ALLOW: () => 0x7fff0000,
};
/** libseccomp's `enum scmp_compare`. */
const SCMP_CMP: Record<string, number> = {
  SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7,
};
const EPERM = 1;
/** `RLIMIT_*` numbers (`asm-generic/resource.h`). */
const RLIMITS = [
  'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS', 'RLIMIT_NPROC', 'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS', 'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
];
/** OCI namespace types → `/proc/<pid>/ns/` names. */
const NS_FILE: Record<OciNamespaceType, string> = { pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', user: 'user', cgroup: 'cgroup' };

const U64_MAX = (1n << 64n) - 1n;
const u64 = (v: number | bigint): string => {
  const b = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
  return String(b < 0n ? 0n : b > U64_MAX ? U64_MAX : b);
};
export const escape = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function capMask(names: readonly string[] | undefined): string {
  let mask = 0n;
  for (const n of names ?? []) {
    const bit = KNOWN_CAPABILITIES.indexOf(n);
    if (bit >= 0) mask |= 1n << BigInt(bit);
  }
  return `0x${mask.toString(16)}`;
}

export function seccompLines(sc: OciSeccomp): string[] {
  const action = (name: string, errnoRet: number | undefined, where: string): number => {
    const fn = SCMP_ACT[name];
    if (!fn) throw new CriError('FailedPrecondition', `failed to prepare exec: seccomp action ${name} (${where}) is not supported for exec`);
    return fn(errnoRet ?? EPERM);
  };
  const lines = [`seccomp ${action(sc.defaultAction, sc.defaultErrnoRet, 'default')}`];
  for (const arch of sc.architectures ?? []) lines.push(`scarch ${arch.replace(/^SCMP_ARCH_/, '').toLowerCase()}`);
  for (const s of sc.syscalls ?? []) {
    const act = action(s.action, s.errnoRet, s.names.join(','));
    const args = (s.args ?? []).map((a) => {
      const op = SCMP_CMP[a.op];
      if (op === undefined) throw new CriError('FailedPrecondition', `failed to prepare exec: seccomp operator ${a.op} is not supported`);
      return `${a.index} ${op} ${u64(a.value)} ${u64(a.valueTwo ?? 0)}`;
    });
    for (const name of s.names) lines.push(['scrule', name, String(act), String(args.length), ...args].join(' '));
  }
  return lines;
}

export function processLines(p: OciProcess): string[] {
  const lines: string[] = [];
  lines.push(`cwd ${escape(p.cwd || '/')}`);
  for (const e of p.env ?? []) lines.push(`env ${escape(e)}`);
  lines.push(['user', p.user.uid, p.user.gid, ...(p.user.additionalGids ?? [])].join(' '));
  if (p.user.umask !== undefined) lines.push(`umask 0${p.user.umask.toString(8)}`);
  // Always written: the helper refuses a plan without it (no capabilities is all zeros).
  const c = p.capabilities ?? {};
  lines.push(['caps', capMask(c.bounding), capMask(c.effective), capMask(c.permitted), capMask(c.inheritable), capMask(c.ambient)].join(' '));
  lines.push(`nnp ${p.noNewPrivileges ? 1 : 0}`);
  for (const r of p.rlimits ?? []) {
    const n = RLIMITS.indexOf(r.type);
    if (n < 0) throw new CriError('FailedPrecondition', `failed to prepare exec: unknown rlimit ${r.type}`);
    lines.push(`rlimit ${n} ${u64(r.soft)} ${u64(r.hard)}`);
  }
  if (p.oomScoreAdj !== undefined) lines.push(`oom ${p.oomScoreAdj}`);
  if (p.apparmorProfile) lines.push(`apparmor ${escape(p.apparmorProfile)}`);
  return lines;
}

/** The plan's text; pure, for tests. */
export function execPlanText(spec: OciSpec, init: InitProcess, cgroupDirs: readonly string[]): string {
  const lines = [`pid ${init.pid} ${init.startTime}`];
  for (const ns of spec.linux.namespaces) lines.push(`ns ${NS_FILE[ns.type]}`);
  for (const dir of cgroupDirs) lines.push(`cgroup ${escape(dir)}`);
  lines.push(...processLines(spec.process));
  if (spec.linux.seccomp) lines.push(...seccompLines(spec.linux.seccomp));
  return lines.join('\n') + '\n';
}

interface CgroupMount {
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly superOptions: readonly string[];
}

/** The cgroup mounts of a `/proc/<pid>/mountinfo`. */
export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const { root, mountPoint, fsType, superOptions } of parseMountInfo(mountinfo)) {
    if (fsType === 'cgroup' || fsType === 'cgroup2') out.push({ root, mountPoint, fsType, superOptions });
  }
  return out;
}

/**
 * The directories of every cgroup a process is in, from its
 * `/proc/<pid>/cgroup` and the host's cgroup mounts: what `runc exec`
 * joins (its state's `cgroup_paths`), found without asking runc.
 */
export function cgroupDirs(procCgroup: string, mounts: readonly CgroupMount[]): string[] {
  const dirs: string[] = [];
  for (const line of procCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, , ctrls, path] = m as unknown as [string, string, string, string];
    const mount = ctrls === ''
      ? mounts.find((x) => x.fsType === 'cgroup2')
      : mounts.find((x) => x.fsType === 'cgroup' && ctrls.split(',').every((c) => x.superOptions.includes(c)));
    if (!mount) continue;
    const root = mount.root === '/' ? '' : mount.root;
    if (root && !path.startsWith(root)) continue;
    const dir = join(mount.mountPoint, path.slice(root.length));
    if (!dirs.includes(dir)) dirs.push(dir);
  }
  return dirs;
}

/**
 * The plan file of a running container, written on first use. A container's
 * init process never changes, so a plan once written stays right; the
 * helper itself refuses it once that process is gone (its start time is in
 * the plan). `undefined` when the process is already gone at the first exec.
 */
export async function ensureExecPlan(bundle: string, pid: number): Promise<string | undefined> {
  const file = join(bundle, 'exec.plan');
  if (await exists(file)) return file;
  const startTime = procStat(pid)?.startTime;
  if (!startTime) return undefined;
  const [specText, procCgroup, mountinfo] = await Promise.all([
    readFile(join(bundle, 'config.json'), 'utf8'),
    readFile(`/proc/${pid}/cgroup`, 'utf8'),
    readFile('/proc/self/mountinfo', 'utf8'),
  ]);
  const spec = JSON.parse(specText) as OciSpec;
  await writeAtomic(file, execPlanText(spec, { pid, startTime }, cgroupDirs(procCgroup, cgroupMounts(mountinfo))));
  return file;
}
