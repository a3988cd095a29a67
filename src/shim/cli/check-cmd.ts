import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { ConfigLoader } from '../../cni/loader';
import { parseMountInfo } from '../../common/mountinfo';
import { nativeBinary } from '../../common/native';
import type { Config } from '../config';

/**
 * `mesos-cri check` (`crio check`, kubeadm preflight): one line per check,
 * `ok`, `warn` or `fail`, and exit 1 when any failed. Reads the host only;
 * changes nothing. Each check is a plain function over injectable host
 * reads so the unit tests can feed recorded hosts (cgroup v2, no overlay).
 */
export type Verdict = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  readonly name: string;
  readonly verdict: Verdict;
  readonly detail: string;
}

export interface Host {
  readFile(path: string): string | undefined;
  exists(path: string): boolean;
  executable(path: string): boolean;
  /** Free bytes for unprivileged and root use, of the filesystem holding `path`. */
  freeBytes(path: string): number | undefined;
  stat(path: string): { mode: number; uid: number; gid: number; socket: boolean } | undefined;
  version(path: string): Promise<string>;
  /** The dynamic loader's complaint when `path` cannot start (a missing shared library), else undefined. */
  loadError(path: string): Promise<string | undefined>;
  readonly pathEnv: string;
  readonly nodeVersion: string;
}

export const realHost: Host = {
  readFile: (p) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
  exists: (p) => existsSync(p),
  executable: (p) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  },
  freeBytes: (p) => {
    for (let dir = p; ; dir = dirname(dir)) {
      try {
        const s = statfsSync(dir);
        return s.bavail * s.bsize;
      } catch {
        if (dirname(dir) === dir) return undefined;
      }
    }
  },
  stat: (p) => {
    try {
      const s = statSync(p);
      return { mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, socket: s.isSocket() };
    } catch {
      return undefined;
    }
  },
  version: (p) =>
    new Promise((resolve) =>
      execFile(p, ['--version'], { timeout: 5000 }, (err, stdout) => resolve(err ? '' : (stdout.split('\n')[0] ?? '').trim())),
    ),
  loadError: (p) =>
    new Promise((resolve) =>
      execFile(p, [], { timeout: 5000 }, (_err, _stdout, stderr) => resolve(/error while loading shared libraries/.exec(stderr) ? stderr.split('\n')[0]!.trim() : undefined)),
    ),
  pathEnv: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
  nodeVersion: process.versions.node,
};

const ok = (name: string, detail: string): CheckResult => ({ name, verdict: 'ok', detail });
const warn = (name: string, detail: string): CheckResult => ({ name, verdict: 'warn', detail });
const fail = (name: string, detail: string): CheckResult => ({ name, verdict: 'fail', detail });

export function checkKernel(host: Host): CheckResult[] {
  const release = host.readFile('/proc/sys/kernel/osrelease')?.trim() ?? 'unknown';
  const missing = ['mnt', 'pid', 'net', 'ipc', 'uts', 'cgroup'].filter((ns) => !host.exists(`/proc/self/ns/${ns}`));
  const out = [missing.length ? fail('kernel namespaces', `missing ${missing.join(', ')} (kernel ${release})`) : ok('kernel namespaces', `mnt pid net ipc uts cgroup (kernel ${release})`)];
  const seccomp = host.readFile('/proc/self/status')?.match(/^Seccomp:\s*(\d)/m);
  out.push(seccomp ? ok('seccomp', 'supported') : warn('seccomp', 'not reported in /proc/self/status: RuntimeDefault profiles will fail'));
  return out;
}

export function checkOverlay(host: Host, backend: Config['images']['backend']): CheckResult {
  const fs = host.readFile('/proc/filesystems') ?? '';
  const has = /\toverlay$/m.test(fs);
  if (has) return ok('overlay', 'overlay filesystem available');
  if (backend === 'overlay') return fail('overlay', 'images.backend is overlay but the kernel has no overlay filesystem (modprobe overlay)');
  return warn('overlay', `no overlay filesystem: images.backend ${backend} falls back to aufs or copy (slower, more space)`);
}

/** v1, hybrid or v2, from `/proc/self/mountinfo`; the controllers the daemon uses must be there. */
export function checkCgroups(host: Host): CheckResult {
  const mountinfo = host.readFile('/proc/self/mountinfo') ?? '';
  const v1 = new Set<string>();
  let v2: string | undefined;
  for (const { mountPoint, fsType, superOptions } of parseMountInfo(mountinfo)) {
    if (fsType === 'cgroup2' && mountPoint.startsWith('/sys/fs/cgroup')) v2 = mountPoint;
    if (fsType === 'cgroup') for (const o of superOptions) v1.add(o);
  }
  const need = ['cpu', 'memory', 'pids'];
  if (v2 === '/sys/fs/cgroup') {
    const controllers = (host.readFile('/sys/fs/cgroup/cgroup.controllers') ?? '').trim().split(/\s+/);
    const missing = need.filter((c) => !controllers.includes(c));
    return missing.length ? fail('cgroups', `v2 unified, controllers missing: ${missing.join(', ')}`) : ok('cgroups', `v2 unified (${controllers.join(' ')})`);
  }
  if (v1.size === 0) return fail('cgroups', 'no cgroup filesystem mounted under /sys/fs/cgroup');
  const missing = need.filter((c) => !v1.has(c));
  if (missing.length) return fail('cgroups', `v1, controllers missing: ${missing.join(', ')}`);
  return ok('cgroups', `v1${v2 ? ` (hybrid, v2 at ${v2})` : ''}: ${need.join(' ')} mounted`);
}

/**
 * The cgroup driver in use (kubelet's `cgroupDriver` must match). With
 * systemd: the socket must be there, and the pods' parent a slice.
 */
export function checkCgroupDriver(host: Host, config: Config): CheckResult {
  const { driver, systemdSocket, parent } = config.cgroup;
  if (driver !== 'systemd') return ok('cgroup driver', `cgroupfs (kubelet cgroupDriver: cgroupfs), pods under ${parent}`);
  const slice = parent === '/mesos-cri' || parent === '' ? 'mesos_cri.slice' : parent;
  if (!/^[A-Za-z0-9_.:@-]+\.slice$/.test(slice)) return fail('cgroup driver', `systemd, but cgroup.parent ${parent} is not a slice name`);
  if (!host.stat(systemdSocket)?.socket) return fail('cgroup driver', `systemd, but ${systemdSocket} is not a socket (is systemd running as pid 1?)`);
  return ok('cgroup driver', `systemd via ${systemdSocket} (kubelet cgroupDriver: systemd), pods under ${slice}`);
}

function which(host: Host, name: string): string | undefined {
  if (name.includes('/')) return host.executable(name) ? name : undefined;
  for (const dir of host.pathEnv.split(delimiter).concat(['/usr/sbin', '/usr/bin'])) {
    const p = join(dir, name);
    if (host.executable(p)) return p;
  }
  return undefined;
}

export async function checkBinaries(host: Host, config: Config): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const major = Number(host.nodeVersion.split('.')[0]);
  out.push(major >= 20 ? ok('node', `v${host.nodeVersion}`) : fail('node', `v${host.nodeVersion}: mesos-cri needs Node.js >= 20`));
  const runtimes = config.runtime.name === 'auto' ? ['runc', 'crun'] : [config.runtime.name];
  const found = runtimes.map((r) => ({ r, p: config.runtime.path || which(host, r) })).filter((x) => x.p);
  if (found.length === 0) out.push(fail('oci runtime', `${runtimes.join(' or ')} not found${config.runtime.path ? ` at ${config.runtime.path}` : ' in PATH'}`));
  for (const { r, p } of found) out.push(ok(`oci runtime ${r}`, `${p}: ${(await host.version(p!)) || 'version unknown'}`));
  // Named runtime handlers with a binary of their own (`runtimes:`).
  for (const [name, h] of Object.entries(config.runtimes ?? {})) {
    if (!h.path) continue;
    out.push(host.executable(h.path) ? ok(`runtime handler ${name}`, `${h.path}: ${(await host.version(h.path)) || 'version unknown'}`) : fail(`runtime handler ${name}`, `${h.path} is not an executable`));
  }
  // How each is probed: its version, whether the loader can start it (a dynamically linked helper), or presence alone.
  const bins: Array<[string, string, boolean, 'version' | 'loads' | 'present']> = [
    ['conmon', config.conmon, true, 'version'],
    ['infra', config.infra, true, 'version'],
    ['exec helper', config.execHelper || nativeBinary('mesos-cri-exec'), true, 'present'],
    ['spawn helper', nativeBinary('mesos-cri-spawn'), false, 'present'],
    // Links libarchive (the .deb's libarchive13): pulls fail without it.
    ['unpack helper', nativeBinary('mesos-cri-unpack'), true, 'loads'],
  ];
  for (const [name, path, required, probe] of bins) {
    const p = which(host, path);
    if (!p) out.push((required ? fail : warn)(name, `${path}: not found or not executable`));
    else if (probe === 'version') out.push(ok(name, `${p}: ${(await host.version(p)) || 'version unknown'}`));
    else {
      const why = probe === 'loads' ? await host.loadError(p) : undefined;
      out.push(why ? fail(name, `${p}: ${why}`) : ok(name, p));
    }
  }
  return out;
}

export function checkCni(host: Host, config: Config): CheckResult[] {
  const loaded = new ConfigLoader(config.cni.confDir).current();
  if (!loaded.primary) {
    const why = loaded.dirError ?? (loaded.skipped.map((s) => `${s.file}: ${s.reason}`).join('; ') || 'no .conf/.conflist/.json file');
    return [warn('cni config', `no valid network config in ${config.cni.confDir} (${why}): NetworkReady stays false, host-network pods only`)];
  }
  const out = [ok('cni config', `${loaded.primary.source || config.cni.confDir}: network "${loaded.primary.name}"`)];
  for (const plugin of loaded.primary.plugins) {
    const type = plugin.type;
    const p = config.cni.binDirs.map((d) => join(d, type)).find((f) => host.executable(f));
    out.push(p ? ok(`cni plugin ${type}`, p) : fail(`cni plugin ${type}`, `not found in ${config.cni.binDirs.join(':')}`));
  }
  return out;
}

const GiB = 1024 ** 3;

export function checkSpace(host: Host, config: Config): CheckResult[] {
  return [
    ['workDir', config.workDir],
    ['runDir', config.runDir],
  ].map(([name, dir]) => {
    const free = host.freeBytes(dir!);
    if (free === undefined) return fail(`free space ${name}`, `${dir}: cannot stat its filesystem`);
    const text = `${dir}: ${(free / GiB).toFixed(1)} GiB free`;
    if (free < 256 * 1024 ** 2) return fail(`free space ${name}`, text);
    return free < 2 * GiB && name === 'workDir' ? warn(`free space ${name}`, `${text} (images need more)`) : ok(`free space ${name}`, text);
  });
}

/** The socket (when the daemon runs) is 0660 root and its dir is not writable by others. */
export function checkSocket(host: Host, config: Config): CheckResult {
  const dir = host.stat(dirname(config.socket));
  if (dir && (dir.mode & 0o022) !== 0) return fail('socket', `${dirname(config.socket)} is writable by group or others (mode ${dir.mode.toString(8)})`);
  const s = host.stat(config.socket);
  if (!s) return ok('socket', `${config.socket} not present (daemon not running); its dir is safe`);
  if (!s.socket) return fail('socket', `${config.socket} exists and is not a socket`);
  if ((s.mode & 0o007) !== 0) return fail('socket', `${config.socket} is accessible to others (mode ${s.mode.toString(8)}; want 660)`);
  if (s.uid !== 0) return warn('socket', `${config.socket} is owned by uid ${s.uid}, not root`);
  return ok('socket', `${config.socket} mode ${s.mode.toString(8)} uid ${s.uid} gid ${s.gid}`);
}

export async function runChecks(config: Config, host: Host = realHost): Promise<CheckResult[]> {
  return [
    ...checkKernel(host),
    checkOverlay(host, config.images.backend),
    checkCgroups(host),
    checkCgroupDriver(host, config),
    ...(await checkBinaries(host, config)),
    ...checkCni(host, config),
    ...checkSpace(host, config),
    checkSocket(host, config),
  ];
}

export async function checkCommand(config: Config, io: { stdout: NodeJS.WritableStream } = process, host: Host = realHost): Promise<number> {
  const results = await runChecks(config, host);
  for (const r of results) io.stdout.write(`${r.verdict.padEnd(4)} ${r.name}: ${r.detail}\n`);
  const failed = results.filter((r) => r.verdict === 'fail').length;
  const warned = results.filter((r) => r.verdict === 'warn').length;
  io.stdout.write(`${failed ? 'FAILED' : 'PASSED'}: ${results.length} checks, ${failed} failed, ${warned} warnings\n`);
  return failed ? 1 : 0;
}
