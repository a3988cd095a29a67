import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The checkout root, also when this file runs compiled from `dist/e2e/support`. */
const up2 = resolve(__dirname, '..', '..');
export const ROOT = up2.endsWith('/dist') ? resolve(up2, '..') : up2;
export const MAIN_JS = join(ROOT, 'dist', 'src', 'main.js');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** Builds `dist/` when any source is newer than the built entry point. */
export function ensureBuilt(): void {
  let built = 0;
  try {
    built = statSync(MAIN_JS).mtimeMs;
  } catch {
    built = 0;
  }
  if (built >= Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'cri')))) return;
  try {
    execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(ROOT, 'tsconfig.json')], { stdio: 'pipe' });
  } catch (err) {
    // tsc still emits when some file has type errors; the type check proper is
    // `scripts/test.sh`'s job, so only a missing entry point is fatal here.
    statSync(MAIN_JS);
    process.stderr.write(`ensureBuilt: tsc reported errors: ${String((err as { stdout?: Buffer }).stdout ?? err).slice(0, 2000)}\n`);
  }
}
