import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { release } from 'node:os';
import { CriError } from '../../common/errors';
import { isErrno } from '../../common/fsutil';
import type { Ctx } from '../../common/ctx';
import type { SeccompProfile } from '../launch-config';
import { runtimeDefaultSeccomp, seccompArchitectures } from './seccomp-default';
import type { OciSeccomp, OciSeccompArg, OciSeccompSyscall, SeccompAction, SeccompOperator } from './types';

export { runtimeDefaultSeccomp } from './seccomp-default';

export interface SeccompOptions {
  readonly privileged: boolean;
  /** The container's bounding capabilities; they unlock cap-gated rules. */
  readonly bounding: readonly string[];
  /** The request field named in errors, e.g. `linux.security_context.seccomp`. */
  readonly field: string;
}

/**
 * The seccomp filter for a container, by CRI profile kind. Privileged
 * containers and Unconfined get none (containerd `generateSeccompSpecOpts`);
 * RuntimeDefault is our built-in profile; Localhost reads a Docker-format
 * JSON file (the format kubelet users write, and what containerd and CRI-O
 * accept), resolved against the container's bounding capabilities.
 */
export async function buildSeccomp(profile: SeccompProfile, opts: SeccompOptions, ctx: Ctx): Promise<OciSeccomp | undefined> {
  if (opts.privileged || profile.kind !== 'localhost') return builtinSeccomp(profile, opts);
  if (ctx.signal?.aborted) throw new CriError('Canceled', `failed to load ${opts.field}: cancelled`);
  return buildSeccompSync(profile, opts);
}

/**
 * The same, reading a Localhost profile synchronously (also for the sandbox
 * spec, whose builder is synchronous). Profiles are a few KiB; the read is
 * bounded and never blocks (see `readProfile`).
 */
export function buildSeccompSync(profile: SeccompProfile, opts: SeccompOptions): OciSeccomp | undefined {
  if (opts.privileged || profile.kind !== 'localhost') return builtinSeccomp(profile, opts);
  const path = checkPath(profile.path, opts.field);
  const text = readProfile(path, opts.field);
  return convertProfile(parseJson(text, path, opts.field), opts.bounding, opts.field);
}

function builtinSeccomp(profile: SeccompProfile, opts: SeccompOptions): OciSeccomp | undefined {
  if (opts.privileged || profile.kind === 'unconfined') return undefined;
  return runtimeDefaultSeccomp(opts.bounding);
}

function checkPath(path: string, field: string): string {
  if (!path.startsWith('/')) {
    throw new CriError('InvalidArgument', `failed to load ${field}: localhost profile path "${path}" is not absolute`);
  }
  return path;
}

/** Larger than any real profile (Docker's default is ~20 KiB). */
export const MAX_PROFILE_BYTES = 1 << 20;

/**
 * A profile file a pod names: opened without following a final symlink and
 * without blocking (a FIFO must not freeze the daemon), a regular file only,
 * at most MAX_PROFILE_BYTES.
 */
function readProfile(path: string, field: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw readError(err, path, field);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CriError('InvalidArgument', `failed to load ${field}: seccomp profile ${path} is not a regular file`);
    if (st.size > MAX_PROFILE_BYTES) throw new CriError('InvalidArgument', `failed to load ${field}: seccomp profile ${path} is larger than ${MAX_PROFILE_BYTES} bytes`);
    const buf = Buffer.alloc(st.size + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > st.size) throw new CriError('InvalidArgument', `failed to load ${field}: seccomp profile ${path} is larger than ${MAX_PROFILE_BYTES} bytes`);
    return buf.subarray(0, n).toString('utf8');
  } catch (err) {
    if (err instanceof CriError) throw err;
    throw readError(err, path, field);
  } finally {
    closeSync(fd);
  }
}

function readError(err: unknown, path: string, field: string): CriError {
  if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
    return new CriError('NotFound', `failed to load ${field}: seccomp profile ${path} not found`, { cause: err });
  }
  if (isErrno(err, 'ELOOP')) return new CriError('InvalidArgument', `failed to load ${field}: seccomp profile ${path} is a symbolic link`);
  const code = (err as { code?: unknown }).code;
  return new CriError('Internal', `failed to load ${field}: cannot read ${path}${typeof code === 'string' ? ` (${code})` : ''}`);
}

/** The parser's own message would quote the file (a pod may point at /etc/shadow): none of it is kept. */
function parseJson(text: string, path: string, field: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CriError('InvalidArgument', `failed to load ${field}: ${path} is not valid JSON`);
  }
}

/** Node's `process.arch` as Go spells it, the names `includes.arches` uses. */
const GOARCH: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', s390x: 's390x', ppc64: 'ppc64le', riscv64: 'riscv64' };

const ACTIONS = new Set<string>(['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY']);
const OPERATORS = new Set<string>(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/**
 * Docker-format profile → OCI `linux.seccomp`, following containers/common
 * `seccomp_linux.go`: the native arch comes from `archMap` (or
 * `architectures`); a rule is dropped when `excludes` names our arch or any
 * capability we hold, or when `includes` names other arches, a capability we
 * lack, or a newer kernel. An OCI-format profile passes through unchanged,
 * since it has none of those keys.
 */
export function convertProfile(raw: unknown, bounding: readonly string[], field: string, arch: string = process.arch, kernel: string = release()): OciSeccomp {
  const bad = (why: string): CriError => new CriError('InvalidArgument', `failed to load ${field}: ${why}`);
  if (!isObj(raw)) throw bad('profile is not a JSON object');
  const defaultAction = action(raw.defaultAction, bad);
  const caps = new Set(bounding);
  const goarch = GOARCH[arch] ?? arch;
  const native = seccompArchitectures(arch);

  let architectures = strings(raw.architectures);
  if (Array.isArray(raw.archMap)) {
    for (const entry of raw.archMap) {
      if (!isObj(entry) || typeof entry.architecture !== 'string') continue;
      if (native[0] === entry.architecture) architectures = [entry.architecture, ...strings(entry.subArchitectures)];
    }
  }

  const syscalls: OciSeccompSyscall[] = [];
  for (const rule of Array.isArray(raw.syscalls) ? raw.syscalls : []) {
    if (!isObj(rule)) throw bad('syscall rule is not an object');
    const inc = isObj(rule.includes) ? rule.includes : {};
    const exc = isObj(rule.excludes) ? rule.excludes : {};
    if (strings(exc.arches).includes(goarch) || strings(exc.caps).some((c) => caps.has(c))) continue;
    const incArches = strings(inc.arches);
    if (incArches.length > 0 && !incArches.includes(goarch)) continue;
    if (strings(inc.caps).some((c) => !caps.has(c))) continue;
    if (typeof inc.minKernel === 'string' && compareKernel(kernel, inc.minKernel) < 0) continue;
    const names = [...strings(rule.names), ...(typeof rule.name === 'string' ? [rule.name] : [])];
    if (names.length === 0) throw bad('syscall rule without names');
    const out: OciSeccompSyscall = { names, action: action(rule.action, bad) };
    if (typeof rule.errnoRet === 'number') out.errnoRet = rule.errnoRet;
    const args = Array.isArray(rule.args) ? rule.args.map((a) => arg(a, bad)) : [];
    if (args.length > 0) out.args = args;
    syscalls.push(out);
  }

  const out: OciSeccomp = { defaultAction, syscalls };
  if (typeof raw.defaultErrnoRet === 'number') out.defaultErrnoRet = raw.defaultErrnoRet;
  if (architectures.length > 0) out.architectures = architectures;
  const flags = strings(raw.flags);
  if (flags.length > 0) out.flags = flags;
  if (typeof raw.listenerPath === 'string' && raw.listenerPath !== '') out.listenerPath = raw.listenerPath;
  return out;
}

function action(v: unknown, bad: (why: string) => CriError): SeccompAction {
  // Only a known name is quoted back: the file may not be a profile at all.
  if (typeof v !== 'string' || !ACTIONS.has(v)) throw bad('unknown seccomp action');
  return v as SeccompAction;
}

function arg(v: unknown, bad: (why: string) => CriError): OciSeccompArg {
  if (!isObj(v) || typeof v.index !== 'number' || typeof v.value !== 'number' || typeof v.op !== 'string' || !OPERATORS.has(v.op)) {
    throw bad('bad syscall argument rule');
  }
  const out: OciSeccompArg = { index: v.index, value: v.value, op: v.op as SeccompOperator };
  if (typeof v.valueTwo === 'number') out.valueTwo = v.valueTwo;
  return out;
}

/** Compares dotted kernel versions numerically ("6.18.44-fc" vs "4.8"). */
export function compareKernel(a: string, b: string): number {
  const parse = (s: string): number[] => s.split(/[^0-9.]/, 1)[0]!.split('.').map((x) => Number(x) || 0);
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
