import { readdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../../common/checkpoint';
import { isErrno } from '../../common/fsutil';
import { verifyDigest } from '../digest';
import { blobPath, blobsDir } from '../paths';

/**
 * Content-addressed storage of the small blobs of an image: manifests,
 * indexes and configs (layers are kept extracted, see `layer-store.ts`).
 * A blob is verified before it is written, and written atomically.
 */
export class BlobStore {
  constructor(private readonly workDir: string) {}

  async put(digest: string, data: Buffer): Promise<void> {
    verifyDigest(data, digest, `blob ${digest}`);
    // Stored already and intact: a pull of a present image writes and fsyncs nothing (a damaged copy is replaced).
    if (await this.get(digest).catch(() => undefined)) return;
    await writeAtomic(blobPath(this.workDir, digest), data, { mode: 0o644 });
  }

  async get(digest: string): Promise<Buffer | undefined> {
    try {
      const data = await readFile(blobPath(this.workDir, digest));
      verifyDigest(data, digest, `stored blob ${digest}`);
      return data;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  // Removal and listing are a system call each, done synchronously: through
  // the thread pool each costs two thread wake-ups, the bulk of an image
  // removal's time on a busy node.

  async remove(digest: string): Promise<void> {
    rmSync(blobPath(this.workDir, digest), { force: true });
  }

  async list(): Promise<string[]> {
    const dir = join(blobsDir(this.workDir), 'sha256');
    try {
      return readdirSync(dir).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }
}
