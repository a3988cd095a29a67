import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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

  describe('hostile archives', () => {
    let canary = '';
    beforeAll(async () => {
      canary = join(p.workDir, '..', `import-canary-${randomBytes(4).toString('hex')}`);
      mkdirSync(canary);
      await writeFile(join(canary, 'secret'), 'host secret');
    });
    afterAll(() => rmSync(canary, { recursive: true, force: true }));

    const dockerArchive = (configName: string, layerNames: string[], extra: TarEntry[] = []): Promise<Buffer> =>
      tarOf([{ name: 'manifest.json', content: JSON.stringify([{ Config: configName, RepoTags: ['hostile/import:1'], Layers: layerNames }]) }, ...extra]);

    it.each([
      ['a config path with ".."', () => dockerArchive('../../../../../../etc/passwd', []), /has no \.\.\/\.\.\/.*etc\/passwd/],
      ['a config symlinked to a host file', () => dockerArchive('cfg.json', [], [{ name: 'cfg.json', type: 'symlink', linkname: join(canary, 'secret') }]), /has no cfg.json/],
      ['a config that is a FIFO', () => dockerArchive('cfg.json', [], [{ name: 'cfg.json', type: 'fifo' }]), /cfg.json is not a regular file/],
      ['a layer symlinked to a host file', async () => {
        const img = await buildBusybox();
        return dockerArchive('cfg.json', ['l.tar'], [{ name: 'cfg.json', content: img.config.data }, { name: 'l.tar', type: 'symlink', linkname: join(canary, 'secret') }]);
      }, /has no l.tar/],
      ['an OCI digest that climbs out', async () => tarOf([{ name: 'oci-layout', content: '{}' }, { name: 'index.json', content: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:../../../../etc/passwd', size: 1 }] }) }]), /bad digest/],
      ['a layer whose uncompressed content does not match its diff id', async () => {
        const img = await buildBusybox();
        const other = await buildLayer([{ name: 'other', content: 'o' }], 'none');
        return dockerArchive('cfg.json', ['l.tar'], [{ name: 'cfg.json', content: img.config.data }, { name: 'l.tar', content: other.data }]);
      }, /digest mismatch/],
    ] as const)('refuses %s and reads nothing outside it', async (_what, make, want) => {
      const file = join(p.workDir, `hostile-${randomBytes(4).toString('hex')}.tar`);
      await writeFile(file, await make());
      await expect(importImages(file, { store: p.store }, ctx)).rejects.toThrow(want);
      expect(await p.store.resolve('hostile/import:1')).toBeUndefined();
      expect(readdirSync(canary)).toEqual(['secret']);
    });
  });
});
