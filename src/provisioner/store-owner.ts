import { checkpoint, readCheckpoint } from '../common/checkpoint';
import { procStat } from '../common/native';
import { storeOwnerPath } from './paths';

/**
 * The daemon records itself as the owner of the image store (pid and start
 * time, so a recycled pid is not mistaken for it); `mesos-cri images import`
 * refuses to write while that process lives, since two writers would race
 * on the same layer and image records.
 */
interface Owner {
  readonly pid: number;
  readonly startTime: string;
}

export async function recordStoreOwner(workDir: string): Promise<void> {
  await checkpoint(storeOwnerPath(workDir), { pid: process.pid, startTime: procStat(process.pid)?.startTime ?? '' } satisfies Owner);
}

/** The pid of the live daemon that owns the store, if any. */
export async function liveStoreOwner(workDir: string): Promise<number | undefined> {
  const owner = await readCheckpoint<Owner>(storeOwnerPath(workDir)).catch(() => undefined);
  if (!owner || owner.pid === process.pid) return undefined;
  const st = procStat(owner.pid);
  if (!st || st.state === 'Z' || st.startTime !== owner.startTime) return undefined;
  return owner.pid;
}
