import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN_JS } from '../support/build';
import { buildBusybox, tarOf, type BuiltImage } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';

/** An OCI image layout tarball holding one image tagged `ref`. */
async function ociLayoutTar(img: BuiltImage, ref: string): Promise<Buffer> {
  const blobs = [img.config, img.manifest, ...img.layers];
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.size, annotations: { 'org.opencontainers.image.ref.name': ref } }],
  };
  return tarOf([
    { name: 'oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { name: 'index.json', content: JSON.stringify(index) },
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    ...blobs.map((b) => ({ name: `blobs/sha256/${b.digest.slice(7)}`, content: b.data })),
  ]);
}

describe('mesos-cri images import', () => {
  let d: Daemon;
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcri-import-'));
  });
  afterAll(async () => {
    await d?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads an OCI layout tarball that the daemon then lists', async () => {
    const img = await buildBusybox({ cmd: ['sh'] });
    const file = join(dir, 'busybox.tar');
    writeFileSync(file, await ociLayoutTar(img, 'docker.io/library/imported:1'));
    const base = join(dir, 'node');
    writeFileSync(join(dir, 'empty.yaml'), '');
    const res = spawnSync(process.execPath, [MAIN_JS, 'images', 'import', file, '--work-dir', join(base, 'lib'), '--run-dir', join(base, 'run'), '--config', join(dir, 'empty.yaml')], { encoding: 'utf8', timeout: 60_000 });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toContain(`imported ${img.config.digest}`);
    d = await startDaemon({ dirs: { base } });
    const st = await d.image.call<{ image: { id: string; repo_tags: string[] } | null }>('ImageStatus', { image: { image: 'imported:1' } });
    expect(st.image?.id).toBe(img.config.digest);
    expect(st.image?.repo_tags).toContain('docker.io/library/imported:1');
    // While that daemon owns the store, a second writer is refused before it touches anything.
    const again = spawnSync(process.execPath, [MAIN_JS, 'images', 'import', file, '--work-dir', join(base, 'lib'), '--run-dir', join(base, 'run'), '--config', join(dir, 'empty.yaml')], { encoding: 'utf8', timeout: 60_000 });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`refusing to import: the daemon \\(pid ${d.pid}\\) owns the image store`));
  });

  it('fails with a message for a file that is not an image archive', () => {
    const file = join(dir, 'junk.tar');
    writeFileSync(file, 'not a tarball');
    writeFileSync(join(dir, 'empty.yaml'), '');
    const r = spawnSync(process.execPath, [MAIN_JS, 'images', 'import', file, '--work-dir', join(dir, 'lib2'), '--config', join(dir, 'empty.yaml')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`failed to import ${file}`);
  });
});
