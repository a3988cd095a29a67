import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ctx } from './ctx';
import type { Exec } from './exec';
import { isErrno } from './fsutil';

/**
 * Moves `dir` into `trash` (same filesystem) in one rename, under a fresh
 * name starting with `prefix`: from then on it is gone for every reader,
 * and its deletion (`removeTree`) can wait; the owner empties `trash` at
 * start for a daemon killed before that. Returns the new path, or
 * `undefined` when `dir` does not exist. Synchronous: two system calls,
 * cheaper than two thread-pool round trips.
 */
export function moveToTrash(dir: string, trash: string, prefix = ''): string | undefined {
  const to = join(trash, `${prefix}${randomBytes(6).toString('hex')}`);
  mkdirSync(trash, { recursive: true });
  try {
    renameSync(dir, to);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  return to;
}

/**
 * Removes `path` and everything under it; nothing when it is missing.
 *
 * Under a low-priority `Ctx` (work behind a reply) it is `rm -rf
 * --one-file-system` run through `exec`, at that ctx's niceness: off the
 * event loop, where every entry of the tree would cost a thread-pool round
 * trip, and never into another filesystem (a mount left under the tree makes
 * it fail, for the sweep to try again, instead of emptying what is
 * mounted there). Otherwise, in the daemon.
 */
export async function removeTree(path: string, ctx: Ctx, exec: Exec | undefined): Promise<void> {
  if (!ctx.lowPriority || !exec) return rm(path, { recursive: true, force: true });
  await exec('rm', ['-rf', '--one-file-system', '--', path], ctx);
}
