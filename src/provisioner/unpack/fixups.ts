import type { Ctx } from '../../common/ctx';
import type { Exec } from '../../common/exec';
import { UNPACK_HELPER } from './unpack';

/**
 * What Node cannot do itself, batched into one helper run: `mknod` (devices,
 * whiteouts) and `mkfifo`, for the copy backend. Paths are relative to
 * `root` and the helper resolves them inside it (`openat2(RESOLVE_IN_ROOT)`),
 * so a symlink in the rootfs cannot send a node onto the host.
 */
export interface NodeFixup {
  /** Relative to the root, '/'-joined. */
  readonly path: string;
  /** Full `st_mode` (type and permission bits). */
  readonly mode: number;
  readonly rdev: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeMs: number;
}

export async function applyNodeFixups(root: string, fixups: readonly NodeFixup[], ctx: Ctx, exec: Exec, devices = process.getuid?.() === 0): Promise<void> {
  if (fixups.length === 0) return;
  const fields: string[] = [];
  for (const f of fixups) {
    const sec = Math.floor(f.mtimeMs / 1000);
    const nsec = Math.round((f.mtimeMs - sec * 1000) * 1e6);
    fields.push('n', f.path, String(f.mode), String(f.rdev), String(f.uid), String(f.gid), String(sec), String(nsec));
  }
  const input = Buffer.from(fields.map((s) => `${s}\0`).join(''));
  await exec(UNPACK_HELPER, [...(devices ? [] : ['--no-devices']), '--ops', root], ctx, { input });
}
