import { readFileSync } from 'node:fs';
import { log } from '../../common/log';
import type { SecurityContext } from '../launch-config';
import type { OciCapabilities } from './types';

/**
 * Linux capabilities by number (`include/uapi/linux/capability.h`); the
 * index is the bit in `/proc/<pid>/status` masks.
 */
export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** containerd's default set (`oci/spec.go` `defaultUnixCaps`), which CRI starts from. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Decodes a `Cap*:` hex mask from `/proc/<pid>/status` into names. */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim()}`);
  return KNOWN_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

let current: readonly string[] | undefined;

/**
 * The capabilities this process holds, which is what "all" can mean: a
 * container cannot be given a capability its runtime lacks (capset fails
 * with EPERM). Here, for instance, CAP_SYS_RESOURCE is missing from the
 * bounding set. containerd's `WithAllCurrentCapabilities` does the same.
 */
export function currentCapabilities(): readonly string[] {
  if (current) return current;
  const status = readFileSync('/proc/self/status', 'utf8');
  const prm = /^CapPrm:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  const bnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  const permitted = prm ? capabilitiesFromMask(prm) : [...KNOWN_CAPABILITIES];
  const bounding = new Set(bnd ? capabilitiesFromMask(bnd) : KNOWN_CAPABILITIES);
  current = permitted.filter((c) => bounding.has(c));
  return current;
}

/** "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" all name CAP_NET_ADMIN; undefined for a name we do not know. */
export function normalizeCapability(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return KNOWN_CAPABILITIES.includes(full) ? full : undefined;
}

/**
 * Known capabilities among `names`. Unknown ones are left out with a
 * warning, as runc does with what containerd passes it, so that a pod
 * naming a capability newer than our list still runs.
 */
function known(names: readonly string[], field: string): string[] {
  const out: string[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    const full = normalizeCapability(name);
    if (full) out.push(full);
    else unknown.push(name);
  }
  if (unknown.length > 0) log.warn({ field, capabilities: unknown }, 'ignoring unknown capabilities');
  return out;
}

const isAll = (name: string): boolean => name.trim().toUpperCase() === 'ALL';

/**
 * The process capabilities for a CRI security context, in containerd's order
 * (`WithCapabilities`): add ALL, drop ALL, then the individual adds, then the
 * individual drops, so `add: [ALL], drop: [CHOWN]` is everything but CHOWN and
 * `drop: [ALL], add: [KILL]` is only KILL. Privileged gets everything we hold.
 * Ambient capabilities must also be inheritable and permitted to take effect.
 */
export function buildCapabilities(
  sc: Pick<SecurityContext, 'privileged' | 'capabilities'>,
  all: readonly string[] = currentCapabilities(),
): OciCapabilities {
  let set: string[];
  if (sc.privileged) {
    set = [...all];
  } else {
    const { add, drop } = sc.capabilities;
    set = [...DEFAULT_CAPABILITIES];
    if (add.some(isAll)) set = [...all];
    if (drop.some(isAll)) set = [];
    set.push(...known(add.filter((c) => !isAll(c)), 'capabilities.add_capabilities'));
    const dropped = new Set(known(drop.filter((c) => !isAll(c)), 'capabilities.drop_capabilities'));
    set = set.filter((c) => !dropped.has(c));
  }
  const ambient = known(sc.capabilities.addAmbient, 'capabilities.add_ambient_capabilities');
  const main = sorted([...set, ...ambient]);
  return { bounding: main, effective: main, permitted: main, inheritable: sorted(ambient), ambient: sorted(ambient) };
}

const sorted = (caps: readonly string[]): string[] =>
  [...new Set(caps)].sort((a, b) => KNOWN_CAPABILITIES.indexOf(a) - KNOWN_CAPABILITIES.indexOf(b));
