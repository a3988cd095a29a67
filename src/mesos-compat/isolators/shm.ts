import { rm } from 'node:fs/promises';
import type { Ctx } from '../../common/ctx';
import type { Exec } from '../../common/exec';
import { readMountInfo } from '../../common/mountinfo';
import { MNT_DETACH, type SpawnServer } from '../../common/spawn-server';

/** Whether `path` is a mount point (listed in our mountinfo). */
export async function isMountPoint(path: string): Promise<boolean> {
  return (await readMountInfo()).some((e) => e.mountPoint === path);
}

/**
 * The sandbox's /dev/shm (Mesos `namespaces/ipc` isolator's shm): one 64 MiB
 * tmpfs per pod, bound into every container of the pod. The infra launcher
 * mounts it (`infra.ts`, the plan's `shm`); this takes it down.
 */
export class ShmIsolator {
  constructor(
    private readonly exec: Exec,
    private readonly server?: SpawnServer,
  ) {}

  /** Idempotent. */
  async cleanup(dir: string, ctx: Ctx): Promise<void> {
    const server = this.server;
    if (server) {
      // umount2(MNT_DETACH) until nothing is mounted there (EINVAL), or it is gone (ENOENT).
      for (;;) {
        try {
          await server.umount(dir, MNT_DETACH, ctx);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EINVAL' || code === 'ENOENT') break;
          throw err;
        }
      }
    } else {
      while (await isMountPoint(dir)) await this.exec('umount', ['-l', dir], ctx);
    }
    await rm(dir, { recursive: true, force: true });
  }
}
