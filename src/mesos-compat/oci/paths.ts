import type { SecurityContext } from '../config';

/**
 * /proc and /sys entries hidden or made read-only in unprivileged
 * containers. These are containerd's defaults (`oci/spec.go`); kubelet sends
 * its own lists (the same ones, or empty for `procMount: Unmasked`) in the
 * security context, and those win when present.
 */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Privileged containers see everything; otherwise the client's lists, else the defaults. */
export function maskedAndReadonlyPaths(sc: Pick<SecurityContext, 'privileged' | 'maskedPaths' | 'readonlyPaths'>): {
  maskedPaths: string[];
  readonlyPaths: string[];
} {
  if (sc.privileged) return { maskedPaths: [], readonlyPaths: [] };
  return {
    maskedPaths: [...(sc.maskedPaths ?? DEFAULT_MASKED_PATHS)],
    readonlyPaths: [...(sc.readonlyPaths ?? DEFAULT_READONLY_PATHS)],
  };
}
