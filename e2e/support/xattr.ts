import { execFileSync } from 'node:child_process';

/** Reads xattr `name` of `path` without following a final symlink (tests only: python3 has the binding Node lacks). */
export function getXattr(path: string, name: string): Buffer | undefined {
  const script = `import os,sys\ntry:\n  sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())\nexcept OSError:\n  pass`;
  const hex = execFileSync('python3', ['-c', script, path, name]).toString().trim();
  return hex === '' ? undefined : Buffer.from(hex, 'hex');
}
