import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { sha256, verifyDigest } from '../digest';
import { openRegularFileInRoot, readRegularFileInRoot } from '../../common/in-root';
import { stagingDir } from '../paths';
import { formatReference, parseReference, repository } from '../reference';
import type { LayerDescriptor } from '../types';
import { decompress, sniffCompression } from '../unpack/decompress';
import { unpackLayer } from '../unpack/unpack';
import { hostPlatform, parseConfig, parseDocument, selectPlatform } from './manifest';
import { MT } from './media-types';
import type { ImageContent, PulledImage, Puller } from './puller';

/**
 * Loads images from an archive for nodes without registry access (Mesos
 * `ImageTarPuller`): an OCI image layout (`oci-layout`, `index.json`,
 * `blobs/`) or a `docker save` archive (`manifest.json`), plain or
 * gzip-compressed. The archive is unpacked into staging with the same
 * hostile-input checks as layers; every blob is verified against its digest
 * before it is stored. The source is the archive's path.
 */
export class ArchivePuller implements Puller<string> {
  constructor(
    private readonly workDir: string,
    private readonly content: ImageContent,
  ) {}

  pull(file: string, ctx: Ctx): AsyncIterable<PulledImage> {
    return pullArchive(this.content, this.workDir, file, ctx);
  }
}

async function* pullArchive(content: ImageContent, workDir: string, file: string, ctx: Ctx): AsyncGenerator<PulledImage> {
  const dir = join(stagingDir(workDir), `import-${randomBytes(6).toString('hex')}`);
  try {
    const fh = await open(file, 'r');
    const magic = Buffer.alloc(4);
    try {
      await fh.read(magic, 0, 4, 0);
    } finally {
      await fh.close();
    }
    const compression = sniffCompression(magic);
    if (compression === 'bzip2' || compression === 'xz') throw new CriError('InvalidArgument', `failed to import ${file}: ${compression} compression is not supported`);
    // Extracted like a layer (every entry confined to `dir`, no devices); every
    // file is then read through `readIn`/`openIn` (in `dir`, regular files only).
    await unpackLayer(decompress(createReadStream(file), compression), dir, ctx, { devices: false }).catch((err: unknown) => {
      throw new CriError('InvalidArgument', `failed to import ${file}: not a readable tar archive`, { cause: err });
    });
    if (await readIn(dir, 'index.json', MAX_META)) return yield* importOciLayout(content, dir, ctx);
    if (await readIn(dir, 'manifest.json', MAX_META)) return yield* importDockerArchive(content, dir, ctx);
    throw new CriError('InvalidArgument', `failed to import ${file}: neither an OCI layout (index.json) nor a docker archive (manifest.json)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Manifests, indexes, configs: small JSON documents. */
const MAX_META = 16 << 20;
/** A layer file in an archive (the extracted layer is bounded separately). */
const MAX_LAYER_FILE = Number.MAX_SAFE_INTEGER;

/** A regular file of the extracted archive, read without following symlinks out of it. */
async function readIn(dir: string, rel: string, max: number): Promise<Buffer | undefined> {
  try {
    return await readRegularFileInRoot(dir, rel, max);
  } catch (err) {
    throw new CriError('InvalidArgument', `failed to import: ${rel}: ${(err as Error).message}`, { cause: err });
  }
}

async function mustReadIn(dir: string, rel: string, max: number): Promise<Buffer> {
  const data = await readIn(dir, rel, max);
  if (data === undefined) throw new CriError('InvalidArgument', `failed to import: the archive has no ${rel}`);
  return data;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function blobPath(digest: string): string {
  if (!DIGEST.test(digest)) throw new CriError('InvalidArgument', `failed to import: bad digest "${digest.slice(0, 80)}"`);
  return join('blobs', ...digest.split(':'));
}

async function readVerified(dir: string, digest: string): Promise<Buffer> {
  const data = await mustReadIn(dir, blobPath(digest), MAX_META);
  verifyDigest(data, digest, `blob ${digest}`);
  return data;
}

async function* importOciLayout(content: ImageContent, dir: string, ctx: Ctx): AsyncGenerator<PulledImage> {
  const top = JSON.parse((await mustReadIn(dir, 'index.json', MAX_META)).toString('utf8')) as { manifests?: Array<{ mediaType?: string; digest: string; size: number; annotations?: Record<string, string> }> };
  for (const entry of top.manifests ?? []) {
    let body = await readVerified(dir, entry.digest);
    const topDigest = entry.digest;
    const blobs: Array<[string, Buffer]> = [[topDigest, body]];
    let doc = parseDocument(body, entry.mediaType ?? '', `manifest ${entry.digest}`);
    const manifestDigests = [topDigest];
    if (doc.kind === 'index') {
      const desc = selectPlatform(doc.manifests);
      if (!desc) throw new CriError('NotFound', `failed to import ${entry.digest}: no manifest for ${hostPlatform().architecture}`);
      body = await readVerified(dir, desc.digest);
      blobs.push([desc.digest, body]);
      manifestDigests.push(desc.digest);
      doc = parseDocument(body, desc.mediaType, `manifest ${desc.digest}`);
      if (doc.kind !== 'manifest') throw new CriError('InvalidArgument', `failed to import ${entry.digest}: nested index`);
    }
    const m = doc.manifest;
    const cfg = await readVerified(dir, m.config.digest);
    blobs.push([m.config.digest, cfg]);
    const parsed = parseConfig(cfg, `config ${m.config.digest}`);
    if (m.layers.length !== parsed.diffIds.length) throw new CriError('InvalidArgument', `failed to import ${entry.digest}: layer count does not match diff ids`);
    await addLayers(content, dir, m.layers.map((l, i) => ({ ...l, diffId: parsed.diffIds[i] })), ctx);
    for (const [d, b] of blobs) await content.blobs.put(d, b);
    const name = entry.annotations?.['io.containerd.image.name'] ?? entry.annotations?.['org.opencontainers.image.ref.name'];
    const tags: string[] = [];
    const repoDigests: string[] = [];
    if (name) {
      try {
        const ref = parseReference(name);
        if (ref.digest === undefined) tags.push(formatReference(ref));
        repoDigests.push(`${repository(ref)}@${topDigest}`);
      } catch {
        // A bare tag ("latest") names no repository; the image is imported untagged.
      }
    }
    yield {
      image: { id: m.config.digest, repoTags: [], repoDigests, manifestDigests, configDigest: m.config.digest, layers: [...m.layers], config: parsed.config, pinned: false },
      tags,
    };
  }
}

async function addLayers(content: ImageContent, dir: string, layers: ReadonlyArray<LayerDescriptor & { diffId?: string }>, ctx: Ctx, files?: readonly string[]): Promise<void> {
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i]!;
    const rel = files?.[i] ?? blobPath(l.digest);
    // Same path as a pull: size, digest and diff id verified, extraction confined.
    await content.layers.add(l, async () => {
      const fh = await openRegularFileInRoot(dir, rel, MAX_LAYER_FILE).catch((err: unknown) => {
        throw new CriError('InvalidArgument', `failed to import: ${rel}: ${(err as Error).message}`, { cause: err });
      });
      if (!fh) throw new CriError('InvalidArgument', `failed to import: the archive has no ${rel}`);
      return fh.createReadStream({ highWaterMark: 1 << 20 });
    }, () => undefined, ctx);
  }
}

/** Digest, size and first bytes of an archive file, streamed (layers can be large). */
async function hashIn(dir: string, rel: string): Promise<{ digest: string; size: number; head: Buffer }> {
  const fh = await openRegularFileInRoot(dir, rel, MAX_LAYER_FILE).catch((err: unknown) => {
    throw new CriError('InvalidArgument', `failed to import: ${rel}: ${(err as Error).message}`, { cause: err });
  });
  if (!fh) throw new CriError('InvalidArgument', `failed to import: the archive has no ${rel}`);
  const hash = createHash('sha256');
  let size = 0;
  let head = Buffer.alloc(0);
  for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer;
    if (head.length < 8) head = Buffer.concat([head, b.subarray(0, 8)]).subarray(0, 8);
    hash.update(b);
    size += b.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size, head };
}

async function* importDockerArchive(content: ImageContent, dir: string, ctx: Ctx): AsyncGenerator<PulledImage> {
  const manifest = JSON.parse((await mustReadIn(dir, 'manifest.json', MAX_META)).toString('utf8')) as Array<{ Config: string; RepoTags?: string[] | null; Layers: string[] }>;
  for (const entry of manifest) {
    const cfg = await mustReadIn(dir, entry.Config, MAX_META);
    const configDigest = sha256(cfg);
    const parsed = parseConfig(cfg, `config ${entry.Config}`);
    const layers: LayerDescriptor[] = [];
    const files: string[] = [];
    for (const rel of entry.Layers) {
      const { digest, size, head } = await hashIn(dir, rel);
      const c = sniffCompression(head);
      const mediaType = c === 'gzip' ? MT.ociLayerGzip : c === 'zstd' ? MT.ociLayerZstd : MT.ociLayer;
      layers.push({ digest, size, mediaType });
      files.push(rel);
    }
    if (layers.length !== parsed.diffIds.length) throw new CriError('InvalidArgument', `failed to import ${entry.Config}: layer count does not match diff ids`);
    await addLayers(content, dir, layers.map((l, i) => ({ ...l, diffId: parsed.diffIds[i] })), ctx, files);
    await content.blobs.put(configDigest, cfg);
    const tags = (entry.RepoTags ?? []).map((t) => formatReference(parseReference(t)));
    yield { image: { id: configDigest, repoTags: [], repoDigests: [], manifestDigests: [], configDigest, layers, config: parsed.config, pinned: false }, tags };
  }
}
