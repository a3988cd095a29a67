import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readdirSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkpoint, readCheckpoint } from '../../common/checkpoint';
import { sweepCtx, type Ctx } from '../../common/ctx';
import type { SpawnServer } from '../../common/spawn-server';
import { CriError } from '../../common/errors';
import { isErrno } from '../../common/fsutil';
import { log } from '../../common/log';
import { layerUnpacked } from '../../common/metrics';
import { moveToTrash, removeTree } from '../../common/remove-tree';
import { DigestingStream, mismatch } from '../digest';
import { layerDir, layerMetaPath, layerRootfs, layersDir, layerTrashDir, stagingDir } from '../paths';
import { ByteLimit, chain, decompress, sniffCompression } from '../unpack/decompress';
import { unpackLayer, type LayerInfo } from '../unpack/unpack';
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

/** The default bound on one uncompressed layer (config `images.maxLayerSize`). */
export const DEFAULT_MAX_LAYER_BYTES = 64 * 2 ** 30;

async function readHead(file: string): Promise<Buffer> {
  const fh = await openFile(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * A stream failure as a PullImage error that names the layer and the reason
 * (decompressor, tar, size limit, disk full); an abort stays an abort.
 */
function wrapStreamError(err: unknown, what: string, ctx: Ctx): Error {
  if (ctx.signal.aborted) return ctx.signal.reason as Error;
  if (err instanceof CriError && err.message.startsWith(what)) return err;
  const reason = (err instanceof Error ? err.message : String(err)).replace(/^failed to unpack layer: /, '');
  const code = err instanceof CriError ? err.code : isErrno(err, 'ENOSPC') ? 'ResourceExhausted' : 'InvalidArgument';
  // The reason is in the message; no `cause`, which `describeError` would print a second time.
  return new CriError(code, `${what}: ${reason}`);
}

export interface LayerProgress {
  /** Called with each chunk's size, while downloading and while extracting. */
  (downloaded: number, extracted: number): void;
}

export class LayerStore {
  /** `maxLayerBytes`: the largest uncompressed layer accepted (a gzip bomb stops there). */
  constructor(
    private readonly workDir: string,
    private readonly maxLayerBytes = DEFAULT_MAX_LAYER_BYTES,
    /** Starts the unpack helper without forking the daemon; default: forked. */
    private readonly spawner?: SpawnServer,
  ) {}

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
    if (layerCompression(desc.mediaType) === undefined) throw new CriError('InvalidArgument', `failed to add layer ${desc.digest}: unsupported media type "${desc.mediaType}"`);
    const staging = join(stagingDir(this.workDir), randomBytes(8).toString('hex'));
    await mkdir(staging, { recursive: true });
    const what = `layer ${desc.digest}`;
    try {
      const blob = join(staging, 'blob');
      const digester = new DigestingStream((n) => progress(n, 0));
      // The declared size is enforced while streaming: a registry that sends more is cut off at once.
      const declared = new ByteLimit(desc.size, `failed to download ${what}: the blob`);
      await pipeline(await open(ctx), declared, digester, createWriteStream(blob), { signal: ctx.signal }).catch((err: unknown) => {
        throw wrapStreamError(err, `failed to download ${what}`, ctx);
      });
      const got = digester.digest();
      if (got !== desc.digest) throw mismatch(what, desc.digest, got);
      if (digester.bytes !== desc.size) throw new CriError('InvalidArgument', `failed to verify ${what}: size ${digester.bytes}, expected ${desc.size}`);

      const compression = sniffCompression(await readHead(blob));
      if (compression === 'bzip2' || compression === 'xz') throw new CriError('InvalidArgument', `failed to unpack ${what}: ${compression} compression is not supported`);
      const unpackStart = process.hrtime.bigint();
      const counter = new Transform({
        highWaterMark: 1 << 20,
        transform(chunk: Buffer, _e, cb) {
          progress(0, chunk.length);
          cb(null, chunk);
        },
      });
      const raw = chain(createReadStream(blob, { highWaterMark: 1 << 20 }), counter);
      // The uncompressed stream must hash to the config's diff id (containerd checks it too).
      const tarDigest = new DigestingStream();
      const tar = chain(decompress(raw.out, compression), new ByteLimit(this.maxLayerBytes, `failed to unpack ${what}: the uncompressed layer`), tarDigest);
      let info: LayerInfo;
      try {
        info = await unpackLayer(tar.out, join(staging, 'rootfs'), ctx, { spawner: this.spawner });
      } catch (err) {
        throw wrapStreamError(err, `failed to unpack ${what}`, ctx);
      } finally {
        raw.destroyAll();
        tar.destroyAll();
      }
      if (desc.diffId !== undefined) {
        const diffId = tarDigest.digest();
        if (diffId !== desc.diffId) throw mismatch(`uncompressed ${what}`, desc.diffId, diffId);
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

  /**
   * Moves the layer to the trash in one rename (a crash never leaves a
   * layer that looks whole) and deletes it there behind the caller's back,
   * at a low priority, as containerd's content GC does: a removal answers
   * without waiting for thousands of files to go. `recover` empties the
   * trash a daemon killed meanwhile left.
   */
  async remove(digest: string): Promise<void> {
    const doomed = moveToTrash(layerDir(this.workDir, digest), layerTrashDir(this.workDir));
    if (!doomed) return;
    void removeTree(doomed, sweepCtx(), this.spawner?.exec).catch((err: unknown) => log.warn({ err, path: doomed }, 'failed to delete a removed layer; the next start does'));
  }

  async list(): Promise<string[]> {
    try {
      return readdirSync(join(layersDir(this.workDir), 'sha256')).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  /** Drops whatever a crash left in staging. */
  async recover(): Promise<void> {
    await rm(stagingDir(this.workDir), { recursive: true, force: true });
    await rm(layerTrashDir(this.workDir), { recursive: true, force: true });
    for (const d of await this.list()) {
      if (!(await this.has(d))) await rm(layerDir(this.workDir, d), { recursive: true, force: true });
    }
  }
}
