import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { basename, dirname, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract, pack } from 'tar-stream';
import type { Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import type { Exec } from '../common/exec';

/**
 * The container checkpoint archive kubelet's checkpoint API hands out
 * (KEP-2008; the layout CRI-O and containerd write and checkpointctl
 * reads): one uncompressed tar with
 *
 *   config.dump       the container's identity and image (JSON)
 *   spec.dump         its OCI runtime spec (the bundle's config.json)
 *   rootfs-diff.tar   what the container wrote on top of its image
 *   deleted.files     what it deleted from the image (JSON list), if anything
 *   checkpoint/       CRIU's images of the process tree
 *   dump.log, stats-dump   CRIU's log and statistics, when it wrote them
 */
export const ARCHIVE_FILES = ['config.dump', 'spec.dump', 'rootfs-diff.tar', 'deleted.files', 'checkpoint', 'dump.log', 'stats-dump'] as const;

/**
 * Writes the writable layer's changes to `out` as a tar and returns the
 * paths deleted from the image. GNU tar walks the layer (directory fds,
 * symlinks archived as symlinks, never followed into the host; it is
 * the container's data and may be hostile), and its stream is filtered
 * here: whiteouts (overlay's 0/0 character devices, aufs' `.wh.` files)
 * become `deleted.files` entries instead of archive members.
 */
export async function writeRootfsDiff(writable: { dir: string; whiteouts: 'overlay' | 'aufs' | 'none' }, out: string, ctx: Ctx, tarBin = 'tar'): Promise<string[]> {
  const deleted: string[] = [];
  const child = spawn(tarBin, ['-C', writable.dir, '--one-file-system', '--numeric-owner', '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'], signal: ctx.signal });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 2));
  });
  exited.catch(() => undefined);
  const source = extract();
  const sink = pack();
  const written = pipeline(sink, createWriteStream(out, { mode: 0o600 }));
  const fed = pipeline(child.stdout, source);
  written.catch(() => undefined);
  fed.catch(() => undefined);
  for await (const entry of source) {
    const h = entry.header;
    // `./usr/x` → `/usr/x` (`posix.normalize` drops the `./`; the archive root `./` stays `.`).
    const path = '/' + posix.normalize(h.name).replace(/^\.\/?$/, '').replace(/\/$/, '');
    const name = basename(path);
    if (writable.whiteouts === 'overlay' && h.type === 'character-device' && h.devmajor === 0 && h.devminor === 0) {
      deleted.push(path);
      entry.resume();
      continue;
    }
    if (writable.whiteouts === 'aufs' && name.startsWith('.wh.')) {
      // `.wh..wh.*` are aufs' own bookkeeping; `.wh.<name>` deletes <name>.
      if (!name.startsWith('.wh..wh.')) deleted.push(posix.join(dirname(path), name.slice(4)));
      entry.resume();
      continue;
    }
    await new Promise<void>((resolve, reject) => entry.pipe(sink.entry(h, (err) => (err ? reject(err) : resolve()))));
  }
  sink.finalize();
  await Promise.all([fed, written]);
  const code = await exited;
  // 1: a file changed while it was read, which a running container may do.
  if (code > 1) throw new CriError('Internal', `failed to archive the writable layer of the container: tar exited ${code}: ${stderr.trim()}`);
  return deleted;
}

/** Packs the files of `dir` named in `ARCHIVE_FILES` (those that exist) into `out`. */
export async function writeArchive(exec: Exec, dir: string, present: readonly string[], out: string, ctx: Ctx): Promise<void> {
  await exec('tar', ['-C', dir, '--numeric-owner', '-cf', out, ...present], ctx);
}
