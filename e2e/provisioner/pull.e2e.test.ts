import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topLevel } from '../../src/common/container-id';
import { layerRootfs } from '../../src/provisioner/paths';
import { buildBusybox, buildImage, buildLayer, busyboxEntries, pushBusybox, pushImage, pushIndex } from '../support/images';
import { randomBytes } from 'node:crypto';
import { freePort, startRegistry, type TestRegistry } from '../support/registry';
import { startProxy, type TestProxy } from './proxies';
import { ctx, tempProvisioner } from './helpers';

// Pulls from a real docker-registry on loopback: manifests of every kind,
// tags and digests, mirrors, errors, and shared concurrent downloads.
let reg: TestRegistry;
let proxy: TestProxy;
let p: Awaited<ReturnType<typeof tempProvisioner>>;
let deadPort: number;
const pushed: Record<string, { ref: string; manifestDigest: string; configDigest: string }> = {};
let indexDigest = '';

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startProxy(reg.url);
  deadPort = await freePort();
  pushed.v1 = await pushBusybox(reg, 'busybox:v1');
  pushed.v2 = await pushBusybox(reg, 'busybox:v2');
  pushed.docker = await pushBusybox(reg, 'busybox-docker:1', { docker: true, cmd: ['echo', 'docker'] });
  pushed.zstd = await pushBusybox(reg, 'busybox-zstd:1', { compression: 'zstd', cmd: ['echo', 'zstd'] });
  pushed.plain = await pushBusybox(reg, 'busybox-plain:1', { compression: 'none', cmd: ['echo', 'plain'] });
  const sharedLayer = await buildLayer([{ name: 'shared.bin', content: randomBytes(4 << 20) }]);
  for (const n of ['1', '2']) {
    const own = await buildLayer([{ name: 'own.txt', content: n }]);
    pushed[`shared${n}`] = await pushImage(reg, `shared:${n}`, buildImage([sharedLayer, own]));
  }
  const base = await buildLayer(busyboxEntries());
  const amd = buildImage([base, await buildLayer([{ name: 'arch', content: 'amd64' }])], { platform: { os: 'linux', architecture: 'amd64' } });
  const arm = buildImage([base, await buildLayer([{ name: 'arch', content: 'arm64' }])], { platform: { os: 'linux', architecture: 'arm64' } });
  indexDigest = (await pushIndex(reg, 'multi:1', [arm, amd], [{ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'amd64' }])).indexDigest;
  pushed.amd = { ref: `${reg.host}/multi:1`, manifestDigest: amd.manifest.digest, configDigest: amd.config.digest };
  p = await tempProvisioner({
    mirrors: { 'mirror.test': [reg.host], [proxy.host]: [`127.0.0.1:${deadPort}`] },
    progressLogIntervalMs: 100,
  });
}, 120_000);

afterAll(async () => {
  await p?.cleanup();
  await proxy?.stop();
  await reg?.stop();
});

describe('pull', () => {
  it('pulls an OCI image and records id, tags, digests and size', async () => {
    const img = await buildBusybox();
    const rec = await p.store.pull(pushed.v1!.ref, {}, ctx);
    expect(rec.id).toBe(pushed.v1!.configDigest);
    expect(rec.repoTags).toEqual([pushed.v1!.ref]);
    expect(rec.repoDigests).toEqual([`${reg.host}/busybox@${pushed.v1!.manifestDigest}`]);
    expect(rec.size).toBe(BigInt(img.layers[0]!.size));
    expect(rec.config.cmd).toEqual(['sh']);
    expect(rec.config.env[0]).toMatch(/^PATH=/);
    const bb = await readFile(join(layerRootfs(p.workDir, img.layers[0]!.digest), 'bin/busybox'));
    expect(bb.equals(await readFile('/bin/busybox'))).toBe(true);
  });

  it('resolves by id, id prefix, tag and digest, and lists with a filter', async () => {
    const id = pushed.v1!.configDigest;
    for (const q of [id, id.slice(7), id.slice(7, 19), pushed.v1!.ref, `${reg.host}/busybox@${pushed.v1!.manifestDigest}`]) {
      expect((await p.store.resolve(q))?.id, q).toBe(id);
    }
    expect(await p.store.resolve(`${reg.host}/busybox:nope`)).toBeUndefined();
    expect((await p.store.list({ ref: pushed.v1!.ref })).map((r) => r.id)).toEqual([id]);
    expect((await p.store.list()).map((r) => r.id)).toContain(id);
  });

  it('adds a second tag to the same image, untags one, deletes on the last', async () => {
    const rec = await p.store.pull(pushed.v2!.ref, {}, ctx);
    expect(rec.id).toBe(pushed.v1!.configDigest);
    expect(rec.repoTags.sort()).toEqual([pushed.v1!.ref, pushed.v2!.ref].sort());
    expect(await p.store.remove(pushed.v2!.ref, ctx)).toBe(true);
    expect((await p.store.resolve(rec.id))?.repoTags).toEqual([pushed.v1!.ref]);
    expect(await p.store.resolve(pushed.v2!.ref)).toBeUndefined();
  });

  it.each(['docker', 'zstd', 'plain'])('pulls a %s image and provisions its rootfs', async (kind) => {
    const rec = await p.store.pull(pushed[kind]!.ref, {}, ctx);
    expect(rec.config.cmd).toEqual(['echo', kind]);
    const id = topLevel(`c-${kind}`);
    const { rootfs } = await p.provisioner.provision(id, pushed[kind]!.ref, ctx);
    expect((await readFile(join(rootfs, 'bin/busybox'))).equals(await readFile('/bin/busybox'))).toBe(true);
    expect(await p.provisioner.destroy(id, ctx)).toBe(true);
  });

  it('selects linux/amd64 from a multi-platform index', async () => {
    const rec = await p.store.pull(pushed.amd!.ref, {}, ctx);
    expect(rec.id).toBe(pushed.amd!.configDigest);
    expect(rec.repoDigests).toEqual([`${reg.host}/multi@${indexDigest}`]);
    const id = topLevel('c-multi');
    const { rootfs } = await p.provisioner.provision(id, rec.id, ctx);
    expect(await readFile(join(rootfs, 'arch'), 'utf8')).toBe('amd64');
    await p.provisioner.destroy(id, ctx);
  });

  it('pulls by digest', async () => {
    const rec = await p.store.pull(`${reg.host}/busybox@${pushed.v1!.manifestDigest}`, {}, ctx);
    expect(rec.id).toBe(pushed.v1!.configDigest);
  });

  it('pulls through a mirror and falls back to the origin when a mirror is down', async () => {
    const viaMirror = await p.store.pull('mirror.test/busybox-zstd:1', {}, ctx);
    expect(viaMirror.repoTags).toContain('mirror.test/busybox-zstd:1');
    const fallback = await p.store.pull(`${proxy.host}/busybox:v1`, {}, ctx);
    expect(fallback.id).toBe(pushed.v1!.configDigest);
    expect(proxy.requests.some((r) => r.startsWith('GET /v2/busybox/manifests/v1'))).toBe(true);
  });

  it('maps errors: malformed → InvalidArgument, unknown → NotFound, down → Unavailable naming the endpoint', async () => {
    await expect(p.store.pull('Bad//Ref', {}, ctx)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(p.store.pull(`${reg.host}/busybox:missing`, {}, ctx)).rejects.toMatchObject({ code: 'NotFound' });
    await expect(p.store.pull(`${reg.host}/nosuchrepo:1`, {}, ctx)).rejects.toMatchObject({ code: 'NotFound' });
    const down = p.store.pull(`127.0.0.1:${deadPort}/busybox:v1`, {}, ctx);
    await expect(down).rejects.toMatchObject({ code: 'Unavailable' });
    await expect(down).rejects.toThrow(`127.0.0.1:${deadPort}`);
    await expect(p.provisioner.provision(topLevel('x'), `${reg.host}/never:pulled`, ctx)).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('shares one download among concurrent pulls of the same image and layer', async () => {
    const direct = await startProxy(reg.url);
    try {
      const [a, b] = [`${direct.host}/shared:1`, `${direct.host}/shared:2`];
      const recs = await Promise.all([p.store.pull(a, {}, ctx), p.store.pull(a, {}, ctx), p.store.pull(b, {}, ctx), p.store.pull(b, {}, ctx)]);
      expect(recs.map((r) => r.id)).toEqual([pushed.shared1!.configDigest, pushed.shared1!.configDigest, pushed.shared2!.configDigest, pushed.shared2!.configDigest]);
      const blobGets = direct.requests.filter((r) => r.startsWith('GET') && r.includes('/blobs/'));
      // 2 configs + the shared layer + 2 own layers, each fetched once.
      expect(blobGets.length).toBe(5);
      expect(new Set(blobGets).size).toBe(5);
    } finally {
      await direct.stop();
    }
  });

  it('reports real image file-system usage and removes content with the last reference', async () => {
    const before = await p.store.fsInfo();
    expect(before.usedBytes).toBeGreaterThan(1_000_000n);
    expect(before.inodesUsed).toBeGreaterThan(100n);
    expect(before.mountpoint).toContain(p.workDir);
    const docker = await p.store.resolve(pushed.docker!.ref);
    expect(await p.store.remove(docker!.id, ctx)).toBe(true);
    expect(await p.store.remove(docker!.id, ctx)).toBe(false);
    expect(await p.store.resolve(pushed.docker!.ref)).toBeUndefined();
  });
});
