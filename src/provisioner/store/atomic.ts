import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Atomic write of raw bytes (temp file in the same directory, fsync,
 * rename), for content-addressed blobs whose bytes must stay exactly as
 * fetched; JSON state uses `common/checkpoint.ts`.
 */
export async function checkpointBytes(path: string, data: Buffer): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(tmp, 'wx', 0o644);
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new Error(`failed to write ${path}`, { cause: err });
  }
}
