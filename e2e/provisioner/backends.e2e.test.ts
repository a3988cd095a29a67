import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nested, topLevel } from '../../src/common/container-id';
import { mountsUnder } from '../../src/provisioner/backends/mounts';
import { createProvisioner } from '../../src/provisioner/provisioner';
import { layerDir } from '../../src/provisioner/paths';
import { buildImage, buildLayer, busyboxEntries, pushBusybox, pushImage, type BuiltImage } from '../support/images';
import { startRegistry, type TestRegistry } from '../support/registry';
import { ctx, tempProvisioner } from './helpers';

// Each backend's rootfs from a three-layer image with whiteouts, nested
// destroy, recovery, pruning and backend validation.
let reg: TestRegistry;
let layered: { ref: string; img: BuiltImage };
let single: string;
let other: { ref: string; img: BuiltImage };

beforeAll(async () => {
  reg = await startRegistry();
  const l1 = await buildLayer([
    ...busyboxEntries(),
    { name: 'etc/app/', type: 'directory' },
    { name: 'etc/app/a.conf', content: 'a' },
    { name: 'etc/app/b.conf', content: 'b' },
    { name: 'data/', type: 'directory' },
    { name: 'data/old1', content: '1' },
    { name: 'data/sub/old2', content: '2' },
    { name: 'gone.txt', content: 'gone' },
    { name: 'lib', type: 'symlink', linkname: '/usr/lib' },
    { name: 'usr/lib/base.so', content: 'base' },
  ]);
  const l2 = await buildLayer([
    { name: '.wh.gone.txt', content: '' },
    { name: 'etc/app/.wh.a.conf', content: '' },
    { name: 'data/.wh..wh..opq', content: '' },
    { name: 'data/new', content: 'new' },
    { name: 'usr/lib/extra.so', content: 'extra' },
  ], 'zstd');
  const l3 = await buildLayer([{ name: 'etc/app/c.conf', content: 'c' }, { name: 'etc/app/b.conf', content: 'b2' }], 'none');
  const img = buildImage([l1, l2, l3]);
  layered = { ref: (await pushImage(reg, 'layered:1', img)).ref, img };
  single = (await pushBusybox(reg, 'single:1')).ref;
  const oimg = buildImage([l1, await buildLayer([{ name: 'other', content: 'o' }])]);
  other = { ref: (await pushImage(reg, 'other:1', oimg)).ref, img: oimg };
}, 120_000);

afterAll(async () => {
  await reg?.stop();
});

function expectLayeredView(rootfs: string): void {
  expect(existsSync(join(rootfs, 'gone.txt'))).toBe(false);
  expect(readdirSync(join(rootfs, 'etc/app')).sort()).toEqual(['b.conf', 'c.conf']);
  expect(readFileSync(join(rootfs, 'etc/app/b.conf'), 'utf8')).toBe('b2');
  expect(readdirSync(join(rootfs, 'data'))).toEqual(['new']);
  expect(readFileSync(join(rootfs, 'usr/lib/extra.so'), 'utf8')).toBe('extra');
  expect(readFileSync(join(rootfs, 'usr/lib/base.so'), 'utf8')).toBe('base');
  expect(readFileSync(join(rootfs, 'bin/busybox')).equals(readFileSync('/bin/busybox'))).toBe(true);
}

describe.each(['overlay', 'copy'] as const)('%s backend', (backend) => {
  let p: Awaited<ReturnType<typeof tempProvisioner>>;
  beforeAll(async () => {
    p = await tempProvisioner({ backend });
    await p.store.pull(layered.ref, {}, ctx);
  });
  afterAll(async () => {
    await p?.cleanup();
  });

  it('builds the rootfs with whiteouts honoured and private writes', async () => {
    expect(p.provisioner.backend).toBe(backend);
    const id = topLevel('c1');
    const { rootfs, image } = await p.provisioner.provision(id, layered.ref, ctx);
    expect(image.id).toBe(layered.img.config.digest);
    expectLayeredView(rootfs);
    await writeFile(join(rootfs, 'written'), Buffer.alloc(64 << 10, 1));
    const usage = await p.provisioner.usage(id);
    expect(usage.bytes).toBeGreaterThanOrEqual(64n << 10n);
    expect(usage.inodes).toBeGreaterThan(0n);
    // The shared layer is untouched by the container's write.
    expect(existsSync(join(layerDir(p.workDir, layered.img.layers[2]!.digest), 'rootfs/written'))).toBe(false);
    // Provision is idempotent per container.
    expect((await p.provisioner.provision(id, layered.ref, ctx)).rootfs).toBe(rootfs);
    expect(await p.provisioner.destroy(id, ctx)).toBe(true);
    expect(existsSync(rootfs)).toBe(false);
    expect(await p.provisioner.destroy(id, ctx)).toBe(false);
  });

  it('destroys nested containers with their parent', async () => {
    const pod = topLevel('pod');
    const child = nested(pod, 'ctr');
    const { rootfs } = await p.provisioner.provision(child, layered.ref, ctx);
    expect(existsSync(join(rootfs, 'etc/app/c.conf'))).toBe(true);
    expect(await p.provisioner.destroy(pod, ctx)).toBe(true);
    expect(existsSync(rootfs)).toBe(false);
    expect(await mountsUnder(join(p.workDir, 'provisioner/containers'))).toEqual([]);
  });
});

describe('bind backend', () => {
  let p: Awaited<ReturnType<typeof tempProvisioner>>;
  beforeAll(async () => {
    p = await tempProvisioner({ backend: 'bind' });
  });
  afterAll(async () => {
    await p?.cleanup();
  });

  it('mounts a single-layer image read-only and refuses layered ones', async () => {
    await p.store.pull(single, {}, ctx);
    const { rootfs } = await p.provisioner.provision(topLevel('b1'), single, ctx);
    expect(existsSync(join(rootfs, 'bin/busybox'))).toBe(true);
    await expect(writeFile(join(rootfs, 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    expect(await p.provisioner.destroy(topLevel('b1'), ctx)).toBe(true);
    await p.store.pull(layered.ref, {}, ctx);
    await expect(p.provisioner.provision(topLevel('b2'), layered.ref, ctx)).rejects.toMatchObject({ code: 'FailedPrecondition' });
    expect(await p.provisioner.destroy(topLevel('b2'), ctx)).toBe(false);
  });
});

describe('recovery and pruning', () => {
  let p: Awaited<ReturnType<typeof tempProvisioner>>;
  beforeAll(async () => {
    p = await tempProvisioner({ backend: 'overlay' });
  });
  afterAll(async () => {
    await p?.cleanup();
  });

  it('keeps known rootfses and destroys unknown ones after a restart', async () => {
    await p.store.pull(layered.ref, {}, ctx);
    const keep = await p.provisioner.provision(topLevel('keep'), layered.ref, ctx);
    const drop = await p.provisioner.provision(nested(topLevel('gone-pod'), 'c'), layered.ref, ctx);
    // A second instance on the same work dir stands in for the restarted daemon.
    const again = await createProvisioner({ workDir: p.workDir, backend: 'auto', mirrors: {}, insecure: [], pullProgressTimeoutSec: 60, maxConcurrentDownloads: 3 });
    await again.provisioner.recover([topLevel('keep')], ctx);
    expect(existsSync(drop.rootfs)).toBe(false);
    expect((await mountsUnder(join(p.workDir, 'provisioner/containers'))).length).toBe(1);
    expectLayeredView(keep.rootfs);
    expect((await again.provisioner.usage(topLevel('keep'))).inodes).toBeGreaterThan(0n);
    expect((await again.store.resolve(layered.ref))?.id).toBe(layered.img.config.digest);
    // Pruning keeps what the recovered container uses.
    await again.store.pull(other.ref, {}, ctx);
    await again.provisioner.pruneImages([], ctx);
    expect(await again.store.resolve(other.ref)).toBeUndefined();
    expect(existsSync(layerDir(p.workDir, other.img.layers[1]!.digest))).toBe(false);
    expect(existsSync(layerDir(p.workDir, other.img.layers[0]!.digest))).toBe(true);
    expect((await again.store.resolve(layered.ref))?.id).toBe(layered.img.config.digest);
    expect(await again.provisioner.destroy(topLevel('keep'), ctx)).toBe(true);
    // Excluded images survive a prune; with no container left, the rest goes.
    await again.store.pull(other.ref, {}, ctx);
    await again.provisioner.pruneImages([other.ref], ctx);
    expect(await again.store.resolve(other.ref)).toBeDefined();
    expect(await again.store.resolve(layered.ref)).toBeUndefined();
    for (const l of layered.img.layers.slice(1)) expect(existsSync(layerDir(p.workDir, l.digest))).toBe(false);
  });
});

describe('backend selection', () => {
  it('picks overlay on ext4 and refuses a forced backend the kernel lacks', async () => {
    const p = await tempProvisioner();
    try {
      expect(p.provisioner.backend).toBe('overlay');
      await expect(createProvisioner({ workDir: p.workDir, backend: 'aufs', mirrors: {}, insecure: [], pullProgressTimeoutSec: 60, maxConcurrentDownloads: 3 })).rejects.toMatchObject({
        code: 'FailedPrecondition',
        message: expect.stringMatching(/image backend "aufs".*no aufs/),
      });
    } finally {
      await p.cleanup();
    }
  });
});

describe('deep images', () => {
  it('mounts 130 layers, one of them twice, on overlay', async () => {
    const p = await tempProvisioner({ backend: 'overlay' });
    try {
      const layers = [await buildLayer(busyboxEntries())];
      for (let i = 0; i < 128; i++) layers.push(await buildLayer([{ name: `deep/${i}`, content: String(i) }, { name: 'top', content: String(i) }], 'none'));
      // The same layer again on top: overlayfs refuses one directory twice, so it is mounted once, at its topmost place.
      layers.push(layers[5]!);
      const img = buildImage(layers);
      const { ref } = await pushImage(reg, 'deep:1', img);
      await p.store.pull(ref, {}, ctx);
      const { rootfs } = await p.provisioner.provision(topLevel('deep'), ref, ctx);
      expect(readdirSync(join(rootfs, 'deep')).length).toBe(128);
      expect(readFileSync(join(rootfs, 'deep/127'), 'utf8')).toBe('127');
      expect(readFileSync(join(rootfs, 'top'), 'utf8')).toBe('4');
      expect(existsSync(join(rootfs, 'bin/busybox'))).toBe(true);
      expect(await p.provisioner.destroy(topLevel('deep'), ctx)).toBe(true);
    } finally {
      await p.cleanup();
    }
  }, 60_000);
});
