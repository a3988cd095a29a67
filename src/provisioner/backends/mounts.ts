import { statSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Ctx } from '../../common/ctx';
import { exec as forkExec, type Exec } from '../../common/exec';
import { execVia, MNT_DETACH, type SpawnServer } from '../../common/spawn-server';
import { isErrno } from '../../common/fsutil';
import { readMountInfo } from '../../common/mountinfo';

/** Mount points from `/proc/self/mountinfo` (field 5, with octal escapes decoded). */
export async function mountPoints(): Promise<string[]> {
  return (await readMountInfo()).map((e) => e.mountPoint);
}

/**
 * Whether a filesystem other than its parent's is mounted on `path` (an
 * overlay or tmpfs we mounted there): two stats instead of reading all of
 * mountinfo, which is long on a busy node. Not for bind mounts.
 */
export function hasOwnFilesystem(path: string): boolean {
  const own = statSync(path, { throwIfNoEntry: false });
  const parent = statSync(dirname(path), { throwIfNoEntry: false });
  return !!own && !!parent && own.dev !== parent.dev;
}

/** Mount points at or under `path`, deepest first (for unmounting). */
export async function mountsUnder(path: string): Promise<string[]> {
  const all = await mountPoints();
  return [...new Set(all.filter((m) => m === path || m.startsWith(`${path}/`)))].sort((a, b) => b.length - a.length);
}

/**
 * Mounting and unmounting for the backends: mount(2)/umount2(2) through the
 * daemon's spawn server when it has one (no mount(8) process and its
 * libmount work), else mount(8)/umount(8) run with `exec`.
 */
export class Mounter {
  constructor(
    readonly exec: Exec = forkExec,
    readonly server?: SpawnServer,
  ) {}

  /** The daemon's mounter: commands and system calls through `server` when there is one. */
  static via(server: SpawnServer | undefined): Mounter {
    return new Mounter(execVia(server), server);
  }

  async mount(args: readonly string[], ctx: Ctx): Promise<void> {
    await this.exec('mount', args, ctx);
  }

  /** Mounts a filesystem with options. */
  async mountFs(m: { source: string; target: string; fstype: string; data: string }, ctx: Ctx): Promise<void> {
    const server = this.server;
    if (!server) {
      await this.exec('mount', ['-t', m.fstype, m.source, '-o', m.data, m.target], ctx);
      return;
    }
    try {
      await server.mount(m, ctx);
    } catch (err) {
      throw new Error(`mount -t ${m.fstype} at ${m.target} failed: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
  }

  /** Unmounts everything at or under `path`; lazily when busy, so teardown never wedges. */
  async unmountAll(path: string, ctx: Ctx): Promise<void> {
    const server = this.server;
    for (const m of await mountsUnder(path)) {
      if (server) {
        await server.umount(m, 0, ctx).catch(() => server.umount(m, MNT_DETACH, ctx));
        continue;
      }
      const r = await this.exec('umount', [m], ctx, { check: false });
      if (r.code !== 0) await this.exec('umount', ['-l', m], ctx);
    }
  }

  /**
   * The `destroy` of every backend: `false` when `dir` does not exist (Mesos
   * `Backend::destroy`), else unmount whatever is below it and remove it.
   */
  async destroyBackendDir(dir: string, ctx: Ctx): Promise<boolean> {
    try {
      await stat(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
    await this.unmountAll(dir, ctx);
    await rm(dir, { recursive: true, force: true });
    return true;
  }
}
