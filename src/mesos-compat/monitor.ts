import type { Ctx } from '../common/ctx';

export interface MonitorCreateRequest {
  readonly id: string;
  readonly bundle: string;
  /** Where the monitor records `exit` (and we look for it after a restart). */
  readonly persistDir: string;
  /** Absolute CRI log path; empty: output is discarded. */
  readonly logPath: string;
  readonly stdin: boolean;
  readonly stdinOnce: boolean;
  readonly tty: boolean;
}

export interface ExitStatus {
  /** WEXITSTATUS, or 128+signal. */
  readonly code: number;
  /** When the monitor recorded it, in nanoseconds since the epoch. */
  readonly at: bigint;
  readonly oomKilled: boolean;
}

/**
 * The per-container monitor of the IO switchboard's non-local mode (Mesos
 * `io/switchboard.hpp`): a process outside the daemon that is the
 * container's parent, holds its stdio, writes the CRI log, serves attach and
 * records the exit status, so containers and logs survive a daemon restart.
 */
export interface Monitor {
  /** Spawns the monitor, which runs `runtime create`; resolves with the container's init pid. */
  create(req: MonitorCreateRequest, ctx: Ctx): Promise<{ pid: number }>;
  /** The recorded exit status; `undefined` while the container has not exited. */
  exitStatus(req: { bundle: string; persistDir: string }): Promise<ExitStatus | undefined>;
  /** Asks the monitor to reopen the log file (after kubelet rotated it). */
  reopenLog(bundle: string, ctx: Ctx): Promise<void>;
  /** The attach socket path of a container created by this monitor. */
  attachSocket(bundle: string): string;
  /** The control FIFO (terminal resize, log reopen). */
  controlFifo(bundle: string): string;
}
