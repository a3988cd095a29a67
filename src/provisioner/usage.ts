import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../common/fsutil';

/**
 * Disk usage of a tree like `du`: allocated bytes (`st_blocks * 512`) and
 * inodes, each hardlinked inode counted once, never following symlinks or
 * crossing into other mounts.
 */
export interface DiskUsage {
  bytes: bigint;
  inodes: bigint;
}

export async function diskUsage(root: string, seen = new Set<string>()): Promise<DiskUsage> {
  const out: DiskUsage = { bytes: 0n, inodes: 0n };
  let rootDev: number;
  try {
    rootDev = (await lstat(root)).dev;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return out;
    throw err;
  }
  const walk = async (path: string): Promise<void> => {
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    if (st.dev !== rootDev) return;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.bytes += BigInt(st.blocks) * 512n;
    out.inodes += 1n;
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = await readdir(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    // Bounded fan-out keeps big trees from opening thousands of requests at once.
    for (let i = 0; i < names.length; i += 64) await Promise.all(names.slice(i, i + 64).map((n) => walk(join(path, n))));
  };
  await walk(root);
  return out;
}
