import type { Ctx } from '../../common/ctx';
import { exec } from '../../common/exec';

/**
 * What Node cannot do itself, batched into one helper process per layer:
 * `mknod` (devices, overlay whiteouts), `mkfifo` and `setxattr`. Node has no
 * xattr or mknod binding; one python3 run per layer costs ~30 ms whatever the
 * number of operations, where a process per node would dominate unpack time.
 * Paths are absolute and were resolved through real directories only.
 */
export type Fixup =
  | { op: 'mknod'; path: string; mode: number; major: number; minor: number; uid: number; gid: number; mtime: number }
  | { op: 'xattr'; path: string; name: string; value: Buffer };

const SCRIPT = `
import json, os, sys
for op in json.load(sys.stdin):
    kind, path = op[0], op[1]
    if kind == 'mknod':
        _, _, mode, major, minor, uid, gid, mtime = op
        if mode & 0o170000 == 0o010000:
            os.mkfifo(path, mode & 0o7777)
        else:
            os.mknod(path, mode, os.makedev(major, minor))
        os.chown(path, uid, gid, follow_symlinks=False)
        os.chmod(path, mode & 0o7777)
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    elif kind == 'xattr':
        os.setxattr(path, op[2], bytes.fromhex(op[3]), follow_symlinks=False)
`;

export const PYTHON = process.env.MESOS_CRI_PYTHON ?? '/usr/bin/python3';

export async function applyFixups(fixups: readonly Fixup[], ctx: Ctx): Promise<void> {
  if (fixups.length === 0) return;
  const ops = fixups.map((f) =>
    f.op === 'mknod' ? ['mknod', f.path, f.mode, f.major, f.minor, f.uid, f.gid, f.mtime] : ['xattr', f.path, f.name, f.value.toString('hex')],
  );
  await exec(PYTHON, ['-c', SCRIPT], ctx, { input: JSON.stringify(ops) });
}

/** Reads the listed xattr of paths (for tests and the copy backend's checks). */
export async function getXattr(path: string, name: string, ctx: Ctx): Promise<Buffer | undefined> {
  const script = `import os,sys\ntry:\n  sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())\nexcept OSError:\n  pass`;
  const r = await exec(PYTHON, ['-c', script, path, name], ctx);
  const hex = r.stdout.toString().trim();
  return hex === '' ? undefined : Buffer.from(hex, 'hex');
}
