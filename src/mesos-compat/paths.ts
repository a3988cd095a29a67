import { join } from 'node:path';

/**
 * Every on-disk path of the containerizer (Mesos `paths.hpp`). Bundles and
 * checkpoints live under the work dir so they survive a daemon restart;
 * the OCI runtime's state, conmon's exit files and the sandboxes' shm mounts
 * live under the run dir (tmpfs, gone after a reboot, as are the processes).
 *
 *   <workDir>/containerizer/
 *     network-config.json            checkpoint: the node's pod CIDRs (UpdateRuntimeConfig)
 *     quarantine/                    unparseable checkpoints recovery moved aside
 *     sandboxes/<sandboxId>/
 *       sandbox.json                 checkpoint: SandboxRecord (a state per line, the last wins)
 *       bundle/                      OCI bundle of the infra process
 *         config.json
 *         rootfs/                    empty dir; the infra binary is bind-mounted in
 *       files/{hostname,hosts,resolv.conf}
 *       containers/<containerId>/
 *         container.json             checkpoint: ContainerRecord (a state per line, the last wins)
 *         bundle/                    OCI bundle; conmon's cwd
 *           config.json
 *           pidfile, conmon-pidfile  written by runc and conmon
 *           ctl, winsz               conmon's control FIFOs
 *           attach                   conmon's SEQPACKET attach socket
 *           oom                      created by conmon after an OOM kill
 *         persist/exit               conmon's exit status (decimal, no newline)
 *     tombstones/<sandboxId>/<containerId>/
 *                                    a removed container's dir, moved here in one rename by
 *                                    RemoveContainer; swept behind the reply, or at the next start
 *     tombstones/<sandboxId>/.sandbox/
 *                                    a removed sandbox's dir, moved here by RemovePodSandbox;
 *                                    swept (after its containers) with its rootfs dir and pod cgroup
 *   <runDir>/
 *     runc/                          OCI runtime state root (`runtime.root`)
 *     exits/<containerId>            conmon's exit files
 *     socks/<containerId> -> bundle  conmon's attach-socket symlinks
 *     shm/<sandboxId>/               the sandbox's 64 MiB /dev/shm tmpfs
 */
export interface Roots {
  readonly workDir: string;
  readonly runDir: string;
}

export const containerizerDir = (r: Roots): string => join(r.workDir, 'containerizer');
/** Where recovery moves checkpoints it cannot parse (never deleted). */
export const quarantineDir = (r: Roots): string => join(containerizerDir(r), 'quarantine');
export const networkConfigCheckpoint = (r: Roots): string => join(containerizerDir(r), 'network-config.json');
export const sandboxesDir = (r: Roots): string => join(containerizerDir(r), 'sandboxes');
export const sandboxDir = (r: Roots, sandboxId: string): string => join(sandboxesDir(r), sandboxId);
export const sandboxCheckpoint = (r: Roots, sandboxId: string): string => join(sandboxDir(r, sandboxId), 'sandbox.json');
export const sandboxBundle = (r: Roots, sandboxId: string): string => join(sandboxDir(r, sandboxId), 'bundle');
export const sandboxFilesDir = (r: Roots, sandboxId: string): string => join(sandboxDir(r, sandboxId), 'files');

export const containersDir = (r: Roots, sandboxId: string): string => join(sandboxDir(r, sandboxId), 'containers');
export const containerDir = (r: Roots, sandboxId: string, containerId: string): string =>
  join(containersDir(r, sandboxId), containerId);
export const containerCheckpoint = (r: Roots, sandboxId: string, containerId: string): string =>
  join(containerDir(r, sandboxId, containerId), 'container.json');
export const containerBundle = (r: Roots, sandboxId: string, containerId: string): string =>
  join(containerDir(r, sandboxId, containerId), 'bundle');
export const containerPersistDir = (r: Roots, sandboxId: string, containerId: string): string =>
  join(containerDir(r, sandboxId, containerId), 'persist');

export const tombstonesDir = (r: Roots): string => join(containerizerDir(r), 'tombstones');
export const sandboxTombstonesDir = (r: Roots, sandboxId: string): string => join(tombstonesDir(r), sandboxId);
export const tombstoneDir = (r: Roots, sandboxId: string, containerId: string): string => join(sandboxTombstonesDir(r, sandboxId), containerId);
/** Not a container id: ours are hex. */
export const SANDBOX_TOMBSTONE = '.sandbox';
export const sandboxTombstone = (r: Roots, sandboxId: string): string => join(sandboxTombstonesDir(r, sandboxId), SANDBOX_TOMBSTONE);

export const runtimeRoot = (r: Roots): string => join(r.runDir, 'runc');
export const exitsDir = (r: Roots): string => join(r.runDir, 'exits');
export const socketsDir = (r: Roots): string => join(r.runDir, 'socks');
export const shmDir = (r: Roots, sandboxId: string): string => join(r.runDir, 'shm', sandboxId);
