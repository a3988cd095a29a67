import { readdir, rm } from 'node:fs/promises';
import { checkpoint, checkpointFault, readCheckpoint } from '../common/checkpoint';
import { isErrno } from '../common/fsutil';
import type { NetworkConfigList } from './network-conf';
import { recordPath, recordsDir } from './paths';

/**
 * What the isolator remembers per sandbox: everything DEL and CHECK need,
 * including the config list as it was at ADD time (the file may change or
 * vanish later, and DEL must still run the same plugins).
 *
 *   (none) --attach--> attaching --ADD ok--> attached --detach--> (none)
 *                          |                                  ^
 *                          +--ADD failed / crash: DEL --------+
 *
 * A record left in `attaching` is a crash mid-ADD; `recover` tears it down.
 */
export interface NetworkRecord {
  readonly sandboxId: string;
  readonly state: 'attaching' | 'attached';
  readonly netnsPath: string;
  readonly ifName: string;
  readonly network: Omit<NetworkConfigList, 'source'> & { source?: string };
  readonly cniArgs: ReadonlyArray<readonly [string, string]>;
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
  readonly result?: unknown;
  readonly ips: readonly string[];
}

/**
 * NOTE: the `attaching` record is not fsynced: if a power loss drops it, the
 * pin (under `/run`) is gone too and `recover` finds the lease by id anyway.
 */
export const writeRecord = (cacheDir: string, rec: NetworkRecord): Promise<void> =>
  checkpoint(recordPath(cacheDir, rec.sandboxId), rec, { sync: rec.state === 'attached' });

export async function readRecord(cacheDir: string, sandboxId: string): Promise<NetworkRecord | undefined> {
  try {
    return await readCheckpoint<NetworkRecord>(recordPath(cacheDir, sandboxId));
  } catch (err) {
    // A torn or foreign file is as good as no cache: DEL still runs without it.
    // An unreadable one (EIO, a newer version) is not: the caller leaves it.
    if (checkpointFault(err) === 'corrupt') return undefined;
    throw err;
  }
}

export const removeRecord = (cacheDir: string, sandboxId: string): Promise<void> =>
  rm(recordPath(cacheDir, sandboxId), { force: true });

export async function listRecordIds(cacheDir: string): Promise<string[]> {
  try {
    return (await readdir(recordsDir(cacheDir)))
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => n.slice(0, -'.json'.length));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}
