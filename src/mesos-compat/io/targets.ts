import type { SpawnServer } from '../../common/spawn-server';

/**
 * What the IO switchboard needs from the containerizer, declared by its user
 * (`ContainerSessions`). Mesos's switchboard likewise gets a container's IO
 * endpoints from the containerizer rather than finding them itself. The
 * containerizer resolves every target with its own state, monitor and exec
 * helper (`MesosContainerizer` implements this); the sessions depend on
 * nothing else, so they build no monitor and probe no OCI runtime of their own.
 *
 * Each method rejects with the CRI error kubelet should see:
 * `NotFound` for an unknown id (or a sandbox id where a container is meant,
 * and the reverse), `FailedPrecondition` when it is not running (ready).
 */
export interface IoTargets {
  /** A running container's exec helper and exec plan. */
  execTarget(containerId: string): Promise<ExecTarget>;
  /** A running container's monitor endpoints (the monitor that runs it). */
  attachTarget(containerId: string): Promise<AttachTarget>;
  /** A ready sandbox's network namespace. */
  portForwardTarget(sandboxId: string): Promise<PortForwardTarget>;
}

export interface ExecTarget {
  readonly containerId: string;
  /** `native/mesos-cri-exec`. */
  readonly helper: string;
  /** The container's exec plan (`ensureExecPlan`). */
  readonly plan: string;
  /** Starts the helper without forking the daemon; default: forked. */
  readonly spawner?: SpawnServer;
}

export interface AttachTarget {
  readonly containerId: string;
  /** The monitor's attach socket (`Monitor.attachSocket`). */
  readonly attachSocket: string;
  /** The monitor's control FIFO (`Monitor.controlFifo`), for terminal resizes. */
  readonly ctlFifo: string;
  /** The container's own `tty` and `stdin_once` (ContainerConfig). */
  readonly tty: boolean;
  readonly stdinOnce: boolean;
}

export interface PortForwardTarget {
  readonly sandboxId: string;
  /** The sandbox's pinned network namespace; `undefined` for a host-network sandbox. */
  readonly netnsPath?: string;
}
