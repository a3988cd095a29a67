import { isIP } from 'node:net';
import { normalize } from 'node:path';
import type { ContainerConfig__Output } from '../../../cri/generated/runtime/v1/ContainerConfig';
import type { LinuxContainerResources__Output } from '../../../cri/generated/runtime/v1/LinuxContainerResources';
import type { PodSandboxConfig__Output } from '../../../cri/generated/runtime/v1/PodSandboxConfig';
import { CriError } from '../../common/errors';

/**
 * Size and shape limits on every string of a request, checked before any
 * of it is used, so that nothing a request carries fails later (a name
 * too long for `execve`'s 128 KiB per string makes the CNI plugin's
 * environment E2BIG, and a sandbox that can never be torn down). Where
 * Kubernetes or the kernel has a limit, it is that one; the README lists
 * them all.
 */
export const LIMITS = {
  /** Pod, namespace, uid and container names: a DNS subdomain (Kubernetes). */
  name: 253,
  /** HOST_NAME_MAX: sethostname(2) refuses more. */
  hostname: 64,
  /** PATH_MAX. */
  path: 4096,
  /** A label or annotation key: DNS-subdomain prefix, '/', 63-char name (Kubernetes). */
  key: 253 + 1 + 63,
  labelValue: 4096,
  /** Kubernetes' 256 KiB of pod annotations, and room for what kubelet adds. */
  annotationsTotal: 320 * 1024,
  labelsTotal: 320 * 1024,
  /** MAX_ARG_STRLEN less its NUL: one argument or `KEY=value` of execve(2). */
  argString: 128 * 1024 - 1,
  /** Arguments and environment together: half of the usual 2 MiB ARG_MAX. */
  argTotal: 1024 * 1024,
  /** kubelet's MaxDNSSearchPaths and MaxDNSSearchListChars. */
  dnsSearches: 32,
  dnsSearchChars: 2048,
  dnsServers: 32,
  dnsOptions: 32,
  /** Entries of a list (mounts, devices, ports, sysctls). */
  list: 1024,
  short: 256,
} as const;

const bad = (field: string, why: string): CriError => new CriError('InvalidArgument', `failed to validate request: ${field} ${why}`);

function bounded(value: string, field: string, max: number): void {
  // Counted in UTF-8 bytes, as execve and the kernel count them.
  const n = Buffer.byteLength(value);
  if (n > max) throw bad(field, `is ${n} bytes long, more than ${max}`);
  if (value.includes('\0')) throw bad(field, 'contains a NUL byte');
}

/**
 * A name that goes into CNI_ARGS (`K=V;K=V`), container names and logs:
 * no `;` (it would inject CNI arguments such as IP=) and no control
 * characters.
 */
function nameLike(value: string, field: string, required: boolean): void {
  if (required && value === '') throw bad(field, 'is required');
  bounded(value, field, LIMITS.name);
  // eslint-disable-next-line no-control-regex
  if (/[;\u0000-\u001f\u007f]/.test(value)) throw bad(field, 'contains ";" or a control character');
}

function absolutePath(value: string, field: string, { required = false, notRoot = false } = {}): void {
  if (value === '' && !required) return;
  if (value === '') throw bad(field, 'is required');
  bounded(value, field, LIMITS.path);
  if (!value.startsWith('/')) throw bad(field, `"${value}" is not an absolute path`);
  if (notRoot && normalize(value) === '/') throw bad(field, 'must not be "/"');
}

function keyValues(map: Readonly<Record<string, string>>, field: string, valueMax: number, totalMax: number): void {
  let total = 0;
  for (const [k, v] of Object.entries(map)) {
    bounded(k, `${field} key`, LIMITS.key);
    if (k === '') throw bad(`${field} key`, 'is empty');
    bounded(v, `${field}["${k}"]`, valueMax);
    total += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (total > totalMax) throw bad(field, `total ${total} bytes, more than ${totalMax}`);
}

function list<T>(items: readonly T[], field: string, max: number = LIMITS.list): void {
  if (items.length > max) throw bad(field, `has ${items.length} entries, more than ${max}`);
}

/** runc's rule: only sysctls of a namespace the pod has of its own. */
const NAMESPACED_SYSCTL = /^(kernel\.(shm[a-z_]*|msg[a-z_]*|sem)|fs\.mqueue\.[a-z_]+|net\.[a-zA-Z0-9_.\-/]+)$/;

function sysctls(map: Readonly<Record<string, string>>, field: string): void {
  list(Object.keys(map), field);
  for (const [k, v] of Object.entries(map)) {
    bounded(k, `${field} key`, LIMITS.short);
    bounded(v, `${field}["${k}"]`, LIMITS.path);
    if (!NAMESPACED_SYSCTL.test(k)) throw bad(`${field}["${k}"]`, 'is not a sysctl of a namespace the pod has (runc accepts kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.*)');
  }
}

/**
 * The rest of a message (security contexts, CDI devices): every string a
 * path's length at most, every list at most `LIMITS.list` long.
 */
function everyString(value: unknown, field: string, depth = 0): void {
  if (depth > 16) throw bad(field, 'is nested too deeply');
  if (typeof value === 'string') bounded(value, field, LIMITS.path);
  else if (Array.isArray(value)) {
    list(value, field);
    value.forEach((v, i) => everyString(v, `${field}[${i}]`, depth + 1));
  } else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const [k, v] of Object.entries(value)) everyString(v, `${field}.${k}`, depth + 1);
  }
}

const CPUSET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** cgroup values: a cpuset list, and no negative amount (-1 is "unlimited" where the kernel has it). */
export function checkResourceBounds(r: LinuxContainerResources__Output | null | undefined, f: string): void {
  if (!r) return;
  for (const [k, v] of [
    ['cpuset_cpus', r.cpuset_cpus],
    ['cpuset_mems', r.cpuset_mems],
  ] as const) {
    bounded(v, `${f}.${k}`, LIMITS.short);
    if (v !== '' && !CPUSET.test(v)) throw bad(`${f}.${k}`, `"${v}" is not a CPU list like 0-3,5`);
  }
  const min: Array<[string, string | null | undefined, bigint]> = [
    ['cpu_period', r.cpu_period, 0n],
    ['cpu_quota', r.cpu_quota, -1n],
    ['cpu_shares', r.cpu_shares, 0n],
    ['memory_limit_in_bytes', r.memory_limit_in_bytes, 0n],
    ['memory_swap_limit_in_bytes', r.memory_swap_limit_in_bytes, -1n],
  ];
  for (const [k, v, lo] of min) {
    if (v === undefined || v === null || v === '' || !/^-?\d+$/.test(v)) continue; // int64() reports the malformed ones
    if (BigInt(v) < lo) throw bad(`${f}.${k}`, `${v} is negative`);
  }
  list(r.hugepage_limits, `${f}.hugepage_limits`);
  keyValues(r.unified, `${f}.unified`, LIMITS.path, LIMITS.annotationsTotal);
}

/** Limits of a `PodSandboxConfig` (see `LIMITS`). */
export function checkSandboxBounds(c: PodSandboxConfig__Output | null): void {
  if (!c) return; // "config is required" comes from the translation
  const md = c.metadata;
  nameLike(md?.name ?? '', 'config.metadata.name', true);
  nameLike(md?.namespace ?? '', 'config.metadata.namespace', false);
  nameLike(md?.uid ?? '', 'config.metadata.uid', true);
  bounded(c.hostname, 'config.hostname', LIMITS.hostname);
  absolutePath(c.log_directory, 'config.log_directory');
  const dns = c.dns_config;
  if (dns) {
    list(dns.servers, 'config.dns_config.servers', LIMITS.dnsServers);
    list(dns.searches, 'config.dns_config.searches', LIMITS.dnsSearches);
    list(dns.options, 'config.dns_config.options', LIMITS.dnsOptions);
    dns.servers.forEach((s, i) => bounded(s, `config.dns_config.servers[${i}]`, LIMITS.short));
    dns.options.forEach((s, i) => bounded(s, `config.dns_config.options[${i}]`, LIMITS.short));
    dns.searches.forEach((s, i) => bounded(s, `config.dns_config.searches[${i}]`, LIMITS.name));
    const chars = dns.searches.join(' ').length;
    if (chars > LIMITS.dnsSearchChars) throw bad('config.dns_config.searches', `total ${chars} characters, more than ${LIMITS.dnsSearchChars}`);
  }
  list(c.port_mappings, 'config.port_mappings');
  c.port_mappings.forEach((p, i) => {
    const f = `config.port_mappings[${i}]`;
    if (!Number.isInteger(p.container_port) || p.container_port < 1 || p.container_port > 65535) throw bad(`${f}.container_port`, `${p.container_port} is not a port (1-65535)`);
    if (!Number.isInteger(p.host_port) || p.host_port < 0 || p.host_port > 65535) throw bad(`${f}.host_port`, `${p.host_port} is not a port (0-65535)`);
    bounded(p.host_ip, `${f}.host_ip`, LIMITS.short);
    if (p.host_ip !== '' && isIP(p.host_ip) === 0) throw bad(`${f}.host_ip`, `"${p.host_ip}" is not an IP address`);
  });
  keyValues(c.labels, 'config.labels', LIMITS.labelValue, LIMITS.labelsTotal);
  keyValues(c.annotations, 'config.annotations', LIMITS.annotationsTotal, LIMITS.annotationsTotal);
  const linux = c.linux;
  if (linux) {
    bounded(linux.cgroup_parent, 'config.linux.cgroup_parent', LIMITS.path);
    if (linux.cgroup_parent.split('/').includes('..')) throw bad('config.linux.cgroup_parent', 'must not contain ".."');
    sysctls(linux.sysctls, 'config.linux.sysctls');
    checkResourceBounds(linux.resources as LinuxContainerResources__Output | null, 'config.linux.resources');
    everyString(linux.security_context, 'config.linux.security_context');
  }
}

/** An argv (and env) as execve(2) takes it: each string and the total bounded, and a first word. */
export function checkArgvBounds(argv: readonly string[], field: string, envBytes = 0): void {
  list(argv, field, 65536);
  let total = envBytes;
  argv.forEach((a, i) => {
    bounded(a, `${field}[${i}]`, LIMITS.argString);
    total += Buffer.byteLength(a) + 1;
  });
  if (total > LIMITS.argTotal) throw bad(field, `and the environment total ${total} bytes, more than ${LIMITS.argTotal}`);
}

/** Limits of a `ContainerConfig` (see `LIMITS`). */
export function checkContainerBounds(c: ContainerConfig__Output | null): void {
  if (!c) return;
  nameLike(c.metadata?.name ?? '', 'config.metadata.name', true);
  bounded(c.image?.image ?? '', 'config.image.image', LIMITS.path);
  list(c.envs, 'config.envs', 65536);
  let envBytes = 0;
  c.envs.forEach((e, i) => {
    bounded(e.key, `config.envs[${i}].key`, LIMITS.argString);
    const entry = Buffer.byteLength(e.key) + 1 + e.value.byteLength;
    if (entry > LIMITS.argString) throw bad(`config.envs[${i}]`, `"${e.key.slice(0, 64)}=…" is ${entry} bytes long, more than ${LIMITS.argString}`);
    envBytes += entry + 1;
  });
  checkArgvBounds([...c.command, ...c.args], 'config.command and config.args', envBytes);
  c.command.forEach((a, i) => {
    if (i === 0 && a === '') throw bad('config.command[0]', 'is empty');
  });
  absolutePath(c.working_dir, 'config.working_dir');
  list(c.mounts, 'config.mounts');
  c.mounts.forEach((m, i) => {
    // containerd takes a relative target as relative to the rootfs (runc does); never the rootfs itself.
    const target = `config.mounts[${i}].container_path`;
    if (m.container_path === '') throw bad(target, 'is required');
    bounded(m.container_path, target, LIMITS.path);
    if (normalize(`/${m.container_path}`) === '/') throw bad(target, 'must not be "/"');
    absolutePath(m.host_path, `config.mounts[${i}].host_path`, { required: true });
  });
  list(c.devices, 'config.devices');
  c.devices.forEach((d, i) => {
    absolutePath(d.container_path, `config.devices[${i}].container_path`, { required: true, notRoot: true });
    absolutePath(d.host_path, `config.devices[${i}].host_path`, { required: true });
    if (d.permissions !== '' && !/^(?!.*(.).*\1)[rwm]{1,3}$/.test(d.permissions)) throw bad(`config.devices[${i}].permissions`, `"${d.permissions}" is not a subset of "rwm"`);
  });
  keyValues(c.labels, 'config.labels', LIMITS.labelValue, LIMITS.labelsTotal);
  keyValues(c.annotations, 'config.annotations', LIMITS.annotationsTotal, LIMITS.annotationsTotal);
  bounded(c.log_path, 'config.log_path', LIMITS.path);
  if (c.log_path !== '' && !c.log_path.startsWith('/')) {
    const n = normalize(c.log_path);
    if (n === '..' || n.startsWith('../')) throw bad('config.log_path', `"${c.log_path}" leaves the pod's log directory`);
  }
  checkResourceBounds(c.linux?.resources, 'config.linux.resources');
  everyString(c.linux?.security_context, 'config.linux.security_context');
  everyString(c.CDI_devices, 'config.CDI_devices');
}
