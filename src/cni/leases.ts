import { readdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { isErrno } from '../common/fsutil';
import type { NetworkConfigList } from './network-conf';
import { HOST_LOCAL_DEFAULT_DATA_DIR, POD_IFNAME } from './paths';

export interface Lease {
  readonly ip: string;
  readonly containerId: string;
  readonly ifName: string;
}

/** The host-local store dirs a config list allocates from (`<dataDir>/<network>`). */
export function hostLocalStores(list: NetworkConfigList): string[] {
  const dirs: string[] = [];
  for (const plugin of list.plugins) {
    const ipam = plugin.ipam as { type?: unknown; dataDir?: unknown } | undefined;
    if (ipam?.type !== 'host-local') continue;
    const dataDir = typeof ipam.dataDir === 'string' && ipam.dataDir ? ipam.dataDir : HOST_LOCAL_DEFAULT_DATA_DIR;
    const dir = join(dataDir, list.name);
    if (!dirs.includes(dir)) dirs.push(dir);
  }
  return dirs;
}

/**
 * Reads host-local's leases: one file per allocated IP, named by the IP,
 * holding `<containerId>\r\n<ifName>` (older versions wrote only the id).
 * `lock` and `last_reserved_ip.N` are bookkeeping, not leases.
 */
export async function readLeases(storeDir: string): Promise<Lease[]> {
  let names: string[];
  try {
    names = await readdir(storeDir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const leases: Lease[] = [];
  for (const name of names) {
    // IPv6 leases are stored with `:` intact; anything else is not a lease.
    if (isIP(name) === 0) continue;
    try {
      const [id, ifName] = (await readFile(join(storeDir, name), 'utf8')).split(/\r?\n/);
      if (id) leases.push({ ip: name, containerId: id.trim(), ifName: ifName?.trim() || POD_IFNAME });
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
  return leases;
}
