import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { sha256, verifyDigest } from '../digest';
import { stagingDir } from '../paths';
import { formatReference, parseReference, repository } from '../reference';
import type { ImageRecord, LayerDescriptor } from '../types';
import { decompress } from '../unpack/decompress';
import { unpackLayer } from '../unpack/unpack';
import type { DockerStore } from './image-store';
import { hostPlatform, parseConfig, parseDocument, selectPlatform } from './manifest';
import { MT } from './media-types';

/**
 * Loads images from an archive for nodes without registry access: an OCI
 * image layout (`oci-layout`, `index.json`, `blobs/`) or a `docker save`
 * archive (`manifest.json`), plain or gzip-compressed. The archive is
 * unpacked into staging with the same hostile-input checks as layers; every
 * blob is verified against its digest before it is stored.
 */
export async function importArchive(store: DockerStore, workDir: string, file: string, ctx: Ctx): Promise<ImageRecord[]> {
  const dir = join(stagingDir(workDir), `import-${randomBytes(6).toString('hex')}`);
  try {
    const fh = await open(file, 'r');
    const magic = Buffer.alloc(4);
    try {
      await fh.read(magic, 0, 4, 0);
    } finally {
      await fh.close();
    }
    const compression = magic[0] === 0x1f && magic[1] === 0x8b ? 'gzip' : magic.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : 'none';
    await unpackLayer(decompress(createReadStream(file), compression), dir, ctx, { devices: false }).catch((err: unknown) => {
      throw new CriError('InvalidArgument', `failed to import ${file}: not a readable tar archive`, { cause: err });
    });
    if (await exists(join(dir, 'index.json'))) return await importOciLayout(store, dir, ctx);
    if (await exists(join(dir, 'manifest.json'))) return await importDockerArchive(store, dir, ctx);
    throw new CriError('InvalidArgument', `failed to import ${file}: neither an OCI layout (index.json) nor a docker archive (manifest.json)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function exists(p: string): Promise<boolean> {
  return readFile(p).then(
    () => true,
    () => false,
  );
}

const blobFile = (dir: string, digest: string): string => join(dir, 'blobs', ...digest.split(':'));

async function readVerified(dir: string, digest: string): Promise<Buffer> {
  const data = await readFile(blobFile(dir, digest));
  verifyDigest(data, digest, `blob ${digest}`);
  return data;
}

async function importOciLayout(store: DockerStore, dir: string, ctx: Ctx): Promise<ImageRecord[]> {
  const top = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: Array<{ mediaType?: string; digest: string; size: number; annotations?: Record<string, string> }> };
  const out: ImageRecord[] = [];
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
    await addLayers(store, dir, m.layers, ctx);
    for (const [d, b] of blobs) await store.blobs.put(d, b);
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
    out.push(
      await store.add(
        { id: m.config.digest, repoTags: [], repoDigests, manifestDigests, configDigest: m.config.digest, layers: [...m.layers], config: parsed.config, pinned: false },
        tags,
      ),
    );
  }
  return out;
}

async function addLayers(store: DockerStore, dir: string, layers: readonly LayerDescriptor[], ctx: Ctx, files?: readonly string[]): Promise<void> {
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i]!;
    const path = files?.[i] ?? blobFile(dir, l.digest);
    await store.layers.add(l, async () => createReadStream(path), () => undefined, ctx);
  }
}

async function importDockerArchive(store: DockerStore, dir: string, ctx: Ctx): Promise<ImageRecord[]> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Array<{ Config: string; RepoTags?: string[] | null; Layers: string[] }>;
  const out: ImageRecord[] = [];
  for (const entry of manifest) {
    const cfg = await readFile(join(dir, entry.Config));
    const configDigest = sha256(cfg);
    const parsed = parseConfig(cfg, `config ${entry.Config}`);
    const layers: LayerDescriptor[] = [];
    const files: string[] = [];
    for (const rel of entry.Layers) {
      const path = join(dir, rel);
      const data = await readFile(path);
      const mediaType = data[0] === 0x1f && data[1] === 0x8b ? MT.ociLayerGzip : data.length >= 4 && data.readUInt32LE(0) === 0xfd2fb528 ? MT.ociLayerZstd : MT.ociLayer;
      layers.push({ digest: sha256(data), size: data.length, mediaType });
      files.push(path);
    }
    if (layers.length !== parsed.diffIds.length) throw new CriError('InvalidArgument', `failed to import ${entry.Config}: layer count does not match diff ids`);
    await addLayers(store, dir, layers, ctx, files);
    await store.blobs.put(configDigest, cfg);
    const tags = (entry.RepoTags ?? []).map((t) => formatReference(parseReference(t)));
    out.push(
      await store.add({ id: configDigest, repoTags: [], repoDigests: [], manifestDigests: [], configDigest, layers, config: parsed.config, pinned: false }, tags),
    );
  }
  return out;
}
