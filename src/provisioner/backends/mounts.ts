import { readFile, rm, stat } from 'node:fs/promises';
import type { Ctx } from '../../common/ctx';
import { exec } from '../../common/exec';
import { isErrno } from '../../common/fsutil';

/** Mount points from `/proc/self/mountinfo` (field 5, with octal escapes decoded). */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** Mount points at or under `path`, deepest first (for unmounting). */
export async function mountsUnder(path: string): Promise<string[]> {
  const all = await mountPoints();
  return [...new Set(all.filter((m) => m === path || m.startsWith(`${path}/`)))].sort((a, b) => b.length - a.length);
}

export async function mount(args: readonly string[], ctx: Ctx): Promise<void> {
  await exec('mount', args, ctx);
}

/** Unmounts everything at or under `path`; lazily when busy, so teardown never wedges. */
export async function unmountAll(path: string, ctx: Ctx): Promise<void> {
  for (const m of await mountsUnder(path)) {
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
