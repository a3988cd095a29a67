import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageIndex, type StoredImage } from './image-index';
import { PullProgress } from './progress';

const id = (c: string): string => `sha256:${c.repeat(64)}`;
const image = (c: string, digest: string): StoredImage => ({
  id: id(c),
  repoTags: [],
  repoDigests: [`docker.io/library/busybox@${digest}`],
  manifestDigests: [digest],
  configDigest: id(c),
  layers: [{ digest: id('f'), size: 10, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }],
  config: { user: '', env: [], entrypoint: [], cmd: [], workingDir: '', volumes: [], stopSignal: '', labels: {}, exposedPorts: [] },
  pinned: false,
});

describe('ImageIndex', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'image-index-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('moves a tag to the newest image and persists both records', async () => {
    const idx = new ImageIndex(dir);
    await idx.put(image('a', id('1')), 'docker.io/library/busybox:latest');
    await idx.put(image('b', id('2')), 'docker.io/library/busybox:latest');
    const reloaded = new ImageIndex(dir);
    await reloaded.load();
    expect(reloaded.find('busybox')?.id).toBe(id('b'));
    expect(reloaded.get(id('a'))?.repoTags).toEqual([]);
    expect(reloaded.find(`busybox@${id('1')}`)?.id).toBe(id('a'));
    expect(reloaded.find('aaaa')?.id).toBe(id('a'));
  });

  it('untags and drops the repo digest with the last tag of the repo', async () => {
    const idx = new ImageIndex(dir);
    const s = await idx.put(image('a', id('1')), 'docker.io/library/busybox:1');
    await idx.put(image('a', id('1')), 'docker.io/library/busybox:2');
    await idx.untag(s, 'docker.io/library/busybox:1');
    expect(s.repoDigests).toHaveLength(1);
    await idx.untag(s, 'docker.io/library/busybox:2');
    expect(s.repoDigests).toEqual([]);
  });
});

describe('PullProgress', () => {
  it('aborts with a clear error when nothing moves, and not while bytes flow', async () => {
    const p = new PullProgress('img', () => 100, { stallMs: 150, logMs: 1000 });
    try {
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 50));
        p.add(10, 0);
      }
      expect(p.signal.aborted).toBe(false);
      await new Promise((r) => setTimeout(r, 400));
      expect(p.signal.aborted).toBe(true);
      expect(String((p.signal.reason as Error).message)).toMatch(/failed to pull img: no progress for \ds .*downloaded 60 of 100 bytes/);
    } finally {
      p.stop();
    }
  });
});
