import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256 } from '../digest';
import { blobPath } from '../paths';
import { BlobStore } from './blob-store';

const work = mkdtempSync(join(tmpdir(), 'blob-store-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('BlobStore', () => {
  it('writes a blob once: an intact stored copy is left alone, a damaged one replaced, a wrong digest refused', async () => {
    const store = new BlobStore(work);
    const data = Buffer.from('{"config":1}');
    const digest = sha256(data);
    await store.put(digest, data);
    const file = blobPath(work, digest);
    const first = statSync(file).ino;
    await store.put(digest, data);
    // Not rewritten (a rewrite is a new inode: temp file, rename).
    expect(statSync(file).ino).toBe(first);
    writeFileSync(file, 'damaged');
    await expect(store.get(digest)).rejects.toThrow();
    await store.put(digest, data);
    expect(readFileSync(file)).toEqual(data);
    expect(await store.get(digest)).toEqual(data);
    await expect(store.put(sha256(Buffer.from('other')), data)).rejects.toThrow();
  });
});
