import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { background, cleanupCtx, sweepCtx } from './ctx';
import { exec as forkExec, type Exec } from './exec';
import { removeTree } from './remove-tree';

const root = process.getuid?.() === 0;

describe('removeTree', () => {
  let base: string;
  let canary: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'remove-tree-'));
    canary = join(base, 'canary');
    mkdirSync(canary);
    writeFileSync(join(canary, 'keep'), 'canary\n');
  });
  afterEach(() => {
    execFileSync('sh', ['-c', `grep -o ' ${base}/[^ ]*' /proc/self/mountinfo | xargs -r -n1 umount -l`]);
    rmSync(base, { recursive: true, force: true });
  });

  /** A tree as a container leaves one: files, a deep dir, and a symlink to the host's canary. */
  const tree = (): string => {
    const t = join(base, 'tree');
    mkdirSync(join(t, 'a', 'b', 'c'), { recursive: true });
    writeFileSync(join(t, 'a', 'b', 'c', 'f'), 'x');
    writeFileSync(join(t, '-rf'), 'a name that looks like a flag');
    symlinkSync(canary, join(t, 'a', 'escape'));
    return t;
  };

  it.each([
    ['behind a reply, by rm in a process of its own', sweepCtx()],
    ['in a request, in the daemon', cleanupCtx()],
  ])('removes a tree %s, never what a symlink in it points at', async (_how, ctx) => {
    const seen: string[] = [];
    const exec: Exec = (file, args, c, o) => (seen.push(file), forkExec(file, args, c, o));
    const t = tree();
    await removeTree(t, ctx, exec);
    expect(existsSync(t)).toBe(false);
    expect(readFileSync(join(canary, 'keep'), 'utf8')).toBe('canary\n');
    expect(seen).toEqual(ctx.lowPriority ? ['rm'] : []);
    await removeTree(t, ctx, exec); // missing: nothing to do
  });

  it.skipIf(!root)('behind a reply, fails on a mount left in the tree and leaves what is mounted there', async () => {
    const t = tree();
    const m = join(t, 'mounted');
    mkdirSync(m);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', m]);
    writeFileSync(join(m, 'keep'), 'mounted\n');
    await expect(removeTree(t, sweepCtx(), forkExec)).rejects.toThrow(/different device|skipping/);
    expect(readFileSync(join(m, 'keep'), 'utf8')).toBe('mounted\n');
    expect(readFileSync(join(canary, 'keep'), 'utf8')).toBe('canary\n');
  });

  it('without an exec, removes it in the daemon', async () => {
    const t = tree();
    await removeTree(t, background(), undefined);
    await removeTree(join(base, 'other'), sweepCtx(), undefined);
    expect(existsSync(t)).toBe(false);
    expect(readFileSync(join(canary, 'keep'), 'utf8')).toBe('canary\n');
  });
});
