import { mkdirSync } from 'node:fs';
import type { Ctx } from '../../common/ctx';
import { shmDir, type Roots } from '../paths';
import type { IsolatedSandbox, Isolator, SandboxLaunch, SandboxLaunchInfo } from './isolator';
import type { ShmIsolator } from './shm';

/**
 * The pod's /dev/shm as a sandbox isolator (Mesos `namespaces/ipc`):
 * `prepare` makes the mount point under our run dir (the infra helper
 * mounts the tmpfs there), `cleanup` takes it down (`ShmIsolator`). The
 * path derives from the id alone, so an orphan is cleaned up too.
 */
export class SandboxShmIsolator implements Isolator {
  readonly name = 'shm';

  constructor(
    private readonly shm: Pick<ShmIsolator, 'cleanup'>,
    private readonly roots: Roots,
  ) {}

  async prepare(launch: SandboxLaunch): Promise<SandboxLaunchInfo> {
    const shm = shmDir(this.roots, launch.id);
    mkdirSync(shm, { recursive: true, mode: 0o755 });
    return { files: { shm } };
  }

  async cleanup(sb: IsolatedSandbox, ctx: Ctx): Promise<void> {
    await this.shm.cleanup(shmDir(this.roots, sb.id), ctx);
  }
}
