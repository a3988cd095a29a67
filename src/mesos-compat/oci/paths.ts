import type { SecurityContext } from '../launch-config';

/**
 * /proc and /sys entries hidden or made read-only. These are containerd's
 * defaults (`oci/spec.go`), used where no list is given at all (the infra
 * process). CRI containers get exactly the lists in their security context:
 * kubelet sends these same ones, or empty ones for `procMount: Unmasked`.
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

/** Privileged containers see everything; otherwise the given lists, else the defaults. */
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
