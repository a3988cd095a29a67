import { mkdir, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CriError } from '../common/errors';
import type { Ctx } from '../common/ctx';
import type { Exec } from '../common/exec';
import { isErrno } from '../common/fsutil';
import { sandboxPhase } from '../common/metrics';

/** `statfs` type of a network namespace file (`NSFS_MAGIC` in linux/magic.h). */
const NSFS_MAGIC = 0x6e736673;

/** True when `path` is a live namespace pin (an nsfs bind mount), not just a leftover file. */
export async function isPinned(path: string): Promise<boolean> {
  try {
    return (await statfs(path)).type === NSFS_MAGIC;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
}

/**
 * Network namespace pins (containerd `pkg/netns`): a namespace lives as long
 * as a process or a bind mount holds it. Node cannot `setns`, so util-linux
 * does the work: `unshare --net=<file>` creates the namespace and bind-mounts
 * it on the file, which outlives both `unshare` and the daemon. The command
 * it runs inside brings `lo` up, which every pod expects, in the same fork.
 */
export class NetnsPins {
  constructor(
    private readonly exec: Exec,
    private readonly tools: { unshare: string; ip: string; umount: string; true: string } = {
      unshare: 'unshare',
      ip: 'ip',
      umount: 'umount',
      true: 'true',
    },
  ) {}

  /** `loUp: false` when the config's own `loopback` plugin will bring `lo` up. */
  async create(path: string, ctx: Ctx, opts: { loUp?: boolean } = {}): Promise<void> {
    const started = process.hrtime.bigint();
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    try {
      await writeFile(path, '', { flag: 'wx', mode: 0o444 });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) throw new CriError('AlreadyExists', `failed to create network namespace ${path}: already exists`);
      throw err;
    }
    try {
      const inside = (opts.loUp ?? true) ? [this.tools.ip, 'link', 'set', 'lo', 'up'] : [this.tools.true];
      await this.exec(this.tools.unshare, [`--net=${path}`, ...inside], ctx);
    } catch (err) {
      // `unshare` may have mounted the pin before the command inside failed.
      await this.remove(path, ctx).catch(() => undefined);
      throw new Error(`failed to create network namespace ${path}`, { cause: err });
    }
    sandboxPhase('netns', Number(process.hrtime.bigint() - started) / 1e9);
  }

  /** Unmounts and deletes a pin; a no-op when it is already gone. */
  async remove(path: string, ctx: Ctx): Promise<void> {
    if (await isPinned(path)) {
      const res = await this.exec(this.tools.umount, [path], ctx, { check: false });
      // A busy mount (someone `nsenter`ed it by path) still detaches lazily.
      if (res.code !== 0 && (await isPinned(path))) await this.exec(this.tools.umount, ['-l', path], ctx);
    }
    await rm(path, { force: true });
  }

  /** Names of the entries in the pin dir (sandbox ids). */
  async list(dir: string): Promise<string[]> {
    try {
      return (await readdir(dir)).filter((n) => !n.startsWith('.'));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }
}
