import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topLevel } from '../../src/common/container-id';
import { createProvisioner } from '../../src/provisioner/provisioner';
import { blobsDir, layerDir } from '../../src/provisioner/paths';
import { buildImage, buildLayer, busyboxEntries, pushImage } from '../support/images';
import { startRegistry, type TestRegistry } from '../support/registry';
import { ctx, tempProvisioner } from './helpers';

/**
 * Issue 15: layers and blobs no image references are garbage-collected
 * after a failed pull, after an image removal and at start-up, and never
 * while a rootfs uses them.
 */
let reg: TestRegistry;
let p: Awaited<ReturnType<typeof tempProvisioner>>;

const layers = (): string[] => {
  const dir = join(p.workDir, 'provisioner', 'store', 'layers', 'sha256');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
};
const blobs = (): string[] => {
  const dir = join(blobsDir(p.workDir), 'sha256');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
};
const hex = (d: string): string => d.slice('sha256:'.length);

beforeAll(async () => {
  reg = await startRegistry();
  p = await tempProvisioner();
}, 60_000);

afterAll(async () => {
  await p?.cleanup();
  await reg?.stop();
});

describe('garbage collection of image content', () => {
  it('removes what a failed pull stored, keeping what other images reference', async () => {
    const base = await buildLayer(busyboxEntries());
    const good = await pushImage(reg, 'gc/good:1', buildImage([base]));
    await p.store.pull(good.ref, {}, ctx);
    const kept = { layers: layers(), blobs: blobs() };
    expect(kept.layers).toEqual([hex(base.digest)]);

    // Shares the base, adds a layer that unpacks fine, then one whose diff id is wrong.
    const own = await buildLayer([{ name: 'own.bin', content: randomBytes(64 * 1024) }]);
    const bad = await buildLayer([{ name: 'bad', content: randomBytes(1000) }]);
    const { ref } = await pushImage(reg, 'gc/broken:1', buildImage([base, own, { ...bad, diffId: `sha256:${'0'.repeat(64)}` }]));
    await expect(p.store.pull(ref, {}, ctx)).rejects.toThrow(/digest mismatch/);
    await p.docker.gcAfterFailure;
    expect(layers()).toEqual(kept.layers);
    expect(blobs()).toEqual(kept.blobs);
    expect(existsSync(layerDir(p.workDir, own.digest))).toBe(false);
    expect(await p.store.resolve(good.ref)).toBeDefined();
  });

  it('keeps the layers of a removed image while a rootfs uses them, and removes them with the rootfs', async () => {
    const only = await buildLayer([...busyboxEntries(), { name: 'marker', content: 'in-use' }]);
    const img = await pushImage(reg, 'gc/used:1', buildImage([only]));
    await p.store.pull(img.ref, {}, ctx);
    const id = topLevel('gc-user');
    const { rootfs } = await p.provisioner.provision(id, img.ref, ctx);
    expect(await p.store.remove(img.ref, ctx)).toBe(true);
    // The image is gone, its layer is not: the rootfs is still whole.
    expect(await p.store.resolve(img.ref)).toBeUndefined();
    expect(layers()).toContain(hex(only.digest));
    expect(readFileSync(join(rootfs, 'marker'), 'utf8')).toBe('in-use');
    await p.provisioner.destroy(id, ctx);
    await p.provisioner.pruneImages([], ctx);
    expect(layers()).not.toContain(hex(only.digest));
  });

  it('collects at start-up what no image references, and keeps what a recovered rootfs uses', async () => {
    const a = await buildLayer([...busyboxEntries(), { name: 'a', content: 'a' }]);
    const b = await buildLayer([...busyboxEntries(), { name: 'b', content: 'b' }]);
    const imgA = await pushImage(reg, 'gc/a:1', buildImage([a]));
    const imgB = await pushImage(reg, 'gc/b:1', buildImage([b]));
    await p.store.pull(imgA.ref, {}, ctx);
    await p.store.pull(imgB.ref, {}, ctx);
    const user = topLevel('gc-restart');
    const { rootfs } = await p.provisioner.provision(user, imgA.ref, ctx);
    // A crash between "content stored" and "image recorded" (or an interrupted
    // removal): the records go, the content stays; the daemon restarts.
    for (const img of [imgA, imgB]) {
      const file = join(p.workDir, 'provisioner', 'store', 'images', `${hex(img.configDigest)}.json`);
      expect(existsSync(file)).toBe(true);
      rmSync(file);
    }
    const again = await createProvisioner({ workDir: p.workDir, backend: 'auto', mirrors: {}, insecure: [], pullProgressTimeoutSec: 60, maxConcurrentDownloads: 3 });
    await again.provisioner.recover([user], ctx);
    expect(layers()).toContain(hex(a.digest)); // in use by the recovered rootfs
    expect(layers()).not.toContain(hex(b.digest));
    expect(blobs()).not.toContain(hex(imgB.configDigest));
    expect(readFileSync(join(rootfs, 'a'), 'utf8')).toBe('a');
    await again.provisioner.destroy(user, ctx);
  });
});
