import { statSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Ctx } from '../../common/ctx';
import { exec, spawnServer } from '../../common/exec';
import { MNT_DETACH } from '../../common/spawn-server';
import { isErrno } from '../../common/fsutil';

/** Mount points from `/proc/self/mountinfo` (field 5, with octal escapes decoded). */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
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

export async function mount(args: readonly string[], ctx: Ctx): Promise<void> {
  await exec('mount', args, ctx);
}

/**
 * Mounts a filesystem with options: mount(2) done by the daemon's spawn
 * server (no mount(8) process and its libmount work), or mount(8) where
 * there is no server.
 */
export async function mountFs(m: { source: string; target: string; fstype: string; data: string }, ctx: Ctx): Promise<void> {
  const server = spawnServer();
  if (!server) {
    await exec('mount', ['-t', m.fstype, m.source, '-o', m.data, m.target], ctx);
    return;
  }
  try {
    await server.mount(m, ctx);
  } catch (err) {
    throw new Error(`mount -t ${m.fstype} at ${m.target} failed: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/** Unmounts everything at or under `path`; lazily when busy, so teardown never wedges. */
export async function unmountAll(path: string, ctx: Ctx): Promise<void> {
  const server = spawnServer();
  for (const m of await mountsUnder(path)) {
    if (server) {
      await server.umount(m, 0, ctx).catch(() => server.umount(m, MNT_DETACH, ctx));
      continue;
    }
    const r = await exec('umount', [m], ctx, { check: false });
    if (r.code !== 0) await exec('umount', ['-l', m], ctx);
  }
}

/**
 * The `destroy` of every backend: `false` when `dir` does not exist (Mesos
 * `Backend::destroy`), else unmount whatever is below it and remove it.
 */
export async function destroyBackendDir(dir: string, ctx: Ctx): Promise<boolean> {
  try {
    await stat(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
  await unmountAll(dir, ctx);
  await rm(dir, { recursive: true, force: true });
  return true;
}
