import { rm } from 'node:fs/promises';
import type { Ctx } from './ctx';
import type { Exec } from './exec';

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
