import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerDir } from '../../src/provisioner/paths';
import { buildImage, ensureTestRegistry, pushImage, stopTestRegistry } from '../support/images';
import { startDaemon, type Daemon } from '../support/daemon';
import { rawLayer } from '../support/raw-tar';

/**
 * Issue 11's format corpus: one source tree per writer (only the features
 * that writer can store), archived by the real tool in the test, pushed to
 * the loopback registry, pulled through the daemon, and the extracted layer
 * compared with the source entry by entry: type, size, content, link
 * target, hardlink groups, mode, uid:gid, mtime (sub-second where the
 * format keeps it), device numbers, sparseness and xattrs (binary values,
 * `security.capability`). `format-tree.py` builds and describes the trees.
 */

const PY = join(__dirname, 'format-tree.py');
const work = mkdtempSync(join(tmpdir(), 'mcri-formats-'));

const ALL = 'long,bigid,xattr,sparse,nonutf8,special,frac';
const gnuPosix = (v: string) => (src: string): Buffer =>
  execFileSync('tar', ['--format=posix', `--sparse-version=${v}`, '-S', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', '-', '-C', src, '.'], { maxBuffer: 1 << 28 });
const python = (format: 'GNU_FORMAT' | 'PAX_FORMAT' | 'USTAR_FORMAT') => (src: string): Buffer =>
  execFileSync('python3', ['-c', `import os,sys,tarfile\nt=tarfile.open(fileobj=sys.stdout.buffer,mode="w|",format=tarfile.${format})\nos.chdir(sys.argv[1])\nt.add(".")\nt.close()`, src], { maxBuffer: 1 << 28 });

interface Writer {
  readonly name: string;
  readonly features: string;
  readonly write: (src: string) => Buffer;
}

const writers: Writer[] = [
  { name: 'gnu-tar-gnu', features: 'long,bigid,sparse,nonutf8,special', write: (src) => execFileSync('tar', ['--format=gnu', '-S', '--numeric-owner', '-cf', '-', '-C', src, '.'], { maxBuffer: 1 << 28 }) },
  { name: 'gnu-tar-pax-sparse-0.0', features: ALL, write: gnuPosix('0.0') },
  { name: 'gnu-tar-pax-sparse-0.1', features: ALL, write: gnuPosix('0.1') },
  { name: 'gnu-tar-pax-sparse-1.0', features: ALL, write: gnuPosix('1.0') },
  { name: 'gnu-tar-v7', features: 'nonutf8', write: (src) => execFileSync('tar', ['--format=v7', '--numeric-owner', '-cf', '-', '-C', src, '.'], { maxBuffer: 1 << 28 }) },
  { name: 'bsdtar-pax', features: ALL, write: (src) => execFileSync('bsdtar', ['--format=pax', '--numeric-owner', '--xattrs', '-cf', '-', '-C', src, '.'], { maxBuffer: 1 << 28 }) },
  { name: 'bsdtar-gnutar', features: 'long,bigid,nonutf8,special', write: (src) => execFileSync('bsdtar', ['--format=gnutar', '--numeric-owner', '-cf', '-', '-C', src, '.'], { maxBuffer: 1 << 28 }) },
  { name: 'busybox-tar', features: 'long,nonutf8,special', write: (src) => execFileSync('busybox', ['tar', '-cf', '-', '-C', src, '.'], { maxBuffer: 1 << 28 }) },
  { name: 'python-gnu', features: 'long,bigid,nonutf8,special', write: python('GNU_FORMAT') },
  { name: 'python-pax', features: 'long,bigid,nonutf8,special,frac', write: python('PAX_FORMAT') },
  { name: 'python-ustar', features: 'special', write: python('USTAR_FORMAT') },
  { name: 'no-end-blocks-unpadded', features: 'long,bigid,nonutf8,special,last', write: (src) => execFileSync('python3', [PY, 'nofooter', src], { maxBuffer: 1 << 28 }) },
  {
    name: 'umoci',
    features: 'long,bigid,nonutf8,special,round',
    write: (src) => {
      const layout = join(work, 'umoci-layout');
      const bundle = join(work, 'umoci-bundle');
      execFileSync('umoci', ['init', '--layout', layout]);
      execFileSync('umoci', ['new', '--image', `${layout}:t`]);
      execFileSync('umoci', ['unpack', '--image', `${layout}:t`, bundle]);
      execFileSync('cp', ['-a', `${src}/.`, join(bundle, 'rootfs')]);
      execFileSync('umoci', ['repack', '--image', `${layout}:t`, bundle]);
      const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      const blob = (d: string): Buffer => readFileSync(join(layout, 'blobs', ...d.split(':')));
      const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { layers: Array<{ digest: string }> };
      return execFileSync('gzip', ['-dc'], { input: blob(manifest.layers[0]!.digest), maxBuffer: 1 << 28 });
    },
  },
];

/** The comparable description of a tree (without the root entry, whose metadata a layer does not set). */
const snap = (dir: string, features: string): string => execFileSync('python3', [PY, 'snap', dir, features], { maxBuffer: 1 << 26 }).toString();

describe('layer formats through the daemon', () => {
  let d: Daemon;
  const images = new Map<string, { ref: string; digest: string; src: string }>();

  beforeAll(async () => {
    const reg = await ensureTestRegistry();
    for (const w of writers) {
      const src = join(work, w.name);
      execFileSync('python3', [PY, 'make', src, w.features]);
      const layer = rawLayer(w.write(src));
      images.set(w.name, { ref: (await pushImage(reg, `formats/${w.name}:1`, buildImage([layer]))).ref, digest: layer.digest, src });
    }
    d = await startDaemon();
  }, 120_000);

  afterAll(async () => {
    await d?.cleanup();
    await stopTestRegistry();
    rmSync(work, { recursive: true, force: true });
  });

  it.each(writers.map((w) => [w.name, w] as const))('%s: every entry comes out as written', async (_name, w) => {
    const { ref, digest, src } = images.get(w.name)!;
    await d.image.call('PullImage', { image: { image: ref } });
    const out = join(layerDir(d.workDir, digest), 'rootfs');
    const want = snap(src, w.features);
    expect(want.split('\n').length).toBeGreaterThan(8);
    expect(snap(out, w.features)).toBe(want);
    if (w.features.includes('sparse')) expect(want).toMatch(/'sparse' .* sparse=True/);
    if (w.features.includes('xattr')) expect(want).toMatch(/security\.capability=01000002/);
    expect(readdirSync(out).length).toBeGreaterThan(5);
  });
});
