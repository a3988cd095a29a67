import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topLevel } from '../../src/common/container-id';
import { importImages } from '../../src/provisioner/import-images';
import { buildBusybox, buildImage, buildLayer, busyboxEntries, tarOf, type TarEntry } from '../support/images';
import { ctx, tempProvisioner } from './helpers';

// `mesos-cri images import`: OCI layouts and docker archives, no registry.
let p: Awaited<ReturnType<typeof tempProvisioner>>;

beforeAll(async () => {
  p = await tempProvisioner();
});
afterAll(async () => {
  await p?.cleanup();
});

const blobEntry = (b: { digest: string; data: Buffer }): TarEntry => ({ name: `blobs/sha256/${b.digest.slice(7)}`, content: b.data });

describe('importImages', () => {
  it('loads a gzip-compressed OCI layout with a named image', async () => {
    const img = await buildBusybox({ cmd: ['echo', 'imported'] });
    const index = { schemaVersion: 2, manifests: [{ mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.size, annotations: { 'io.containerd.image.name': 'example.com/imported:1', 'org.opencontainers.image.ref.name': '1' } }] };
    const tar = await tarOf([
      { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', content: JSON.stringify(index) },
      ...[img.manifest, img.config, ...img.layers].map(blobEntry),
    ]);
    const file = join(p.workDir, 'layout.tar.gz');
    await writeFile(file, gzipSync(tar));
    const [rec] = await importImages(file, { store: p.store }, ctx);
    expect(rec?.id).toBe(img.config.digest);
    expect(rec?.repoTags).toEqual(['example.com/imported:1']);
    expect(rec?.repoDigests).toEqual([`example.com/imported@${img.manifest.digest}`]);
    const { rootfs } = await p.provisioner.provision(topLevel('imp'), 'example.com/imported:1', ctx);
    expect(readFileSync(join(rootfs, 'bin/busybox')).equals(readFileSync('/bin/busybox'))).toBe(true);
    await p.provisioner.destroy(topLevel('imp'), ctx);
  });

  it('loads a docker-archive with uncompressed layers', async () => {
    const layer = await buildLayer([...busyboxEntries(), { name: 'docker-archive', content: 'yes' }], 'none');
    const img = buildImage([layer], { docker: true, cmd: ['echo', 'docker'] });
    const hex = layer.digest.slice(7);
    const tar = await tarOf([
      { name: 'manifest.json', content: JSON.stringify([{ Config: `${img.config.digest.slice(7)}.json`, RepoTags: ['imported/docker:2'], Layers: [`${hex}/layer.tar`] }]) },
      { name: `${img.config.digest.slice(7)}.json`, content: img.config.data },
      { name: `${hex}/layer.tar`, content: layer.data },
    ]);
    const file = join(p.workDir, 'docker.tar');
    await writeFile(file, tar);
    const [rec] = await importImages(file, { store: p.store }, ctx);
    expect(rec?.repoTags).toEqual(['docker.io/imported/docker:2']);
    expect(rec?.config.cmd).toEqual(['echo', 'docker']);
    expect((await p.store.resolve('imported/docker:2'))?.id).toBe(img.config.digest);
  });

  it('refuses an archive whose blobs do not match their digests', async () => {
    const img = await buildBusybox({ cmd: ['echo', 'bad'], extra: [{ name: 'unique', content: randomBytes(1000) }] });
    const badLayer = { ...img.layers[1]!, data: Buffer.from(img.layers[1]!.data) };
    badLayer.data[badLayer.data.length - 1]! ^= 0xff;
    const index = { schemaVersion: 2, manifests: [{ mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.size, annotations: { 'io.containerd.image.name': 'example.com/bad:1' } }] };
    const file = join(p.workDir, 'bad.tar');
    await writeFile(file, await tarOf([{ name: 'oci-layout', content: '{}' }, { name: 'index.json', content: JSON.stringify(index) }, ...[img.manifest, img.config, img.layers[0]!, badLayer].map(blobEntry)]));
    await expect(importImages(file, { store: p.store }, ctx)).rejects.toThrow(/digest mismatch/);
    expect(await p.store.resolve('example.com/bad:1')).toBeUndefined();
    const staging = join(p.workDir, 'provisioner/store/staging');
    expect(existsSync(staging) ? readdirSync(staging) : []).toEqual([]);
  });
});
