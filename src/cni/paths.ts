import { join } from 'node:path';

/**
 * Every on-disk path of the CNI isolator (Mesos
 * `isolators/network/cni/paths.hpp` draws its tree the same way):
 *
 *   <cacheDir>/
 *     sandboxes/
 *       <sandboxId>.json     checkpoint: network name, the config list used,
 *                            CNI_ARGS, capability args and the ADD result
 *                            (what DEL and CHECK need after a restart)
 *   <netnsDir>/
 *     <sandboxId>            nsfs bind mount pinning the pod's network namespace
 *
 * The sandbox id is also the CNI container id, so IPAM leases (host-local
 * writes `<dataDir>/<network>/<ip>` holding the id) map back to sandboxes.
 */
export const recordsDir = (cacheDir: string): string => join(cacheDir, 'sandboxes');
export const recordPath = (cacheDir: string, sandboxId: string): string =>
  join(recordsDir(cacheDir), `${sandboxId}.json`);
export const netnsPin = (netnsDir: string, sandboxId: string): string => join(netnsDir, sandboxId);

/** host-local's default `dataDir` when the config names none. */
export const HOST_LOCAL_DEFAULT_DATA_DIR = '/var/lib/cni/networks';

/** The interface name inside the pod, as every Kubernetes runtime uses. */
export const POD_IFNAME = 'eth0';

/** CNI container ids: `[A-Za-z0-9][A-Za-z0-9_.-]*` (CNI spec); also safe as a file name. */
export const VALID_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
