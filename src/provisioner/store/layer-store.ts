import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { checkpoint, readCheckpoint } from '../../common/checkpoint';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { isErrno } from '../../common/fsutil';
import { layerUnpacked } from '../../common/metrics';
import { DigestingStream, mismatch } from '../digest';
import { layerDir, layerMetaPath, layerRootfs, layersDir, stagingDir } from '../paths';
import { decompress } from '../unpack/decompress';
import { unpackLayer } from '../unpack/unpack';
import { layerCompression } from './media-types';

/**
 * Extracted layers, one directory per compressed-blob digest, each
 * extracted once and shared by every image and container that uses it
 * (Mesos docker store `layers/<id>/rootfs`). A layer is downloaded into
 * staging, verified against its digest, only then extracted, and moved into
 * place with one rename: a half-made or unverified layer is never visible.
 */
export interface LayerMeta {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly whiteouts: readonly string[];
  readonly opaques: readonly string[];
}

export interface LayerProgress {
  /** Called with each chunk's size, while downloading and while extracting. */
  (downloaded: number, extracted: number): void;
}

export class LayerStore {
  constructor(private readonly workDir: string) {}

  rootfs(digest: string): string {
    return layerRootfs(this.workDir, digest);
  }

  async meta(digest: string): Promise<LayerMeta | undefined> {
    return readCheckpoint<LayerMeta>(layerMetaPath(this.workDir, digest));
  }

  async has(digest: string): Promise<boolean> {
    return (await this.meta(digest)) !== undefined;
  }

  /** Downloads (through `open`), verifies and extracts one layer unless it is already present. */
  async add(
    desc: { digest: string; mediaType: string; size: number; diffId?: string },
    open: (ctx: Ctx) => Promise<Readable>,
    progress: LayerProgress,
    ctx: Ctx,
  ): Promise<void> {
    if (await this.has(desc.digest)) return;
    const compression = layerCompression(desc.mediaType);
    if (compression === undefined) throw new CriError('InvalidArgument', `failed to add layer ${desc.digest}: unsupported media type "${desc.mediaType}"`);
    const staging = join(stagingDir(this.workDir), randomBytes(8).toString('hex'));
    await mkdir(staging, { recursive: true });
    try {
      const blob = join(staging, 'blob');
      const digester = new DigestingStream((n) => progress(n, 0));
      await pipeline(await open(ctx), digester, createWriteStream(blob), { signal: ctx.signal });
      const got = digester.digest();
      if (got !== desc.digest) throw mismatch(`layer ${desc.digest}`, desc.digest, got);
      if (desc.size > 0 && digester.bytes !== desc.size)
        throw new CriError('Internal', `failed to verify layer ${desc.digest}: size ${digester.bytes}, expected ${desc.size}`);

      const unpackStart = process.hrtime.bigint();
      const counter = new Transform({
        highWaterMark: 1 << 20,
        transform(chunk: Buffer, _e, cb) {
          progress(0, chunk.length);
          cb(null, chunk);
        },
      });
      const source = createReadStream(blob, { highWaterMark: 1 << 20 });
      // The uncompressed stream must hash to the config's diff id (containerd checks it too).
      const tarDigest = new DigestingStream();
      const info = await unpackLayer(decompress(source.pipe(counter), compression).pipe(tarDigest), join(staging, 'rootfs'), ctx).catch((err: unknown) => {
        source.destroy();
        throw new CriError('InvalidArgument', `failed to unpack layer ${desc.digest}`, { cause: err });
      });
      if (desc.diffId !== undefined) {
        // The extractor ends only after its input did, so the hash has seen every byte.
        await finished(tarDigest);
        const diffId = tarDigest.digest();
        if (diffId !== desc.diffId) throw mismatch(`uncompressed layer ${desc.digest}`, desc.diffId, diffId);
      }
      await rm(blob, { force: true });
      layerUnpacked(Number(process.hrtime.bigint() - unpackStart) / 1e9);
      const meta: LayerMeta = { digest: desc.digest, mediaType: desc.mediaType, size: digester.bytes, whiteouts: info.whiteouts, opaques: info.opaques };
      await checkpoint(join(staging, 'layer.json'), meta);
      const dest = layerDir(this.workDir, desc.digest);
      await mkdir(dirname(dest), { recursive: true });
      try {
        await rename(staging, dest);
      } catch (err) {
        // Another pull committed the same layer first; theirs is as good as ours.
        if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  async remove(digest: string): Promise<void> {
    // Rename first so a crash mid-removal never leaves a layer that looks whole.
    const dir = layerDir(this.workDir, digest);
    const doomed = join(stagingDir(this.workDir), `rm-${randomBytes(6).toString('hex')}`);
    await mkdir(stagingDir(this.workDir), { recursive: true });
    try {
      await rename(dir, doomed);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    await rm(doomed, { recursive: true, force: true });
  }

  async list(): Promise<string[]> {
    try {
      return (await readdir(join(layersDir(this.workDir), 'sha256'))).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  /** Drops whatever a crash left in staging. */
  async recover(): Promise<void> {
    await rm(stagingDir(this.workDir), { recursive: true, force: true });
    for (const d of await this.list()) {
      if (!(await this.has(d))) await rm(layerDir(this.workDir, d), { recursive: true, force: true });
    }
  }
}
