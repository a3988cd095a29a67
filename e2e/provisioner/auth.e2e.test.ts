import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { layerDir } from '../../src/provisioner/paths';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stagingDir } from '../../src/provisioner/paths';
import { buildImage, buildLayer, pushBusybox, pushImage } from '../support/images';
import { startRegistry, type TestRegistry } from '../support/registry';
import { startProxy, type TestProxy } from './proxies';
import { ctx, tempProvisioner } from './helpers';

// Registry authentication (htpasswd basic, a Bearer token server), digest
// verification against a tampering proxy, and the pull progress timeout.
const creds = { username: 'alice', password: 's3cret' };
let open: TestRegistry;
let basic: TestRegistry;
let bearer: TestProxy;
let tamper: TestProxy;
let stall: TestProxy;
let p: Awaited<ReturnType<typeof tempProvisioner>>;

beforeAll(async () => {
  open = await startRegistry();
  basic = await startRegistry({ auth: creds });
  await pushBusybox(open, 'busybox:1', { extra: [{ name: 'which', content: 'open' }] });
  await pushBusybox(basic, 'private/busybox:1', { extra: [{ name: 'which', content: 'basic' }] });
  await pushBusybox(open, 'tampered:1', { extra: [{ name: 'big.bin', content: randomBytes(300_000) }] });
  await pushBusybox(open, 'stalled:1', { extra: [{ name: 'which', content: 'stalled' }] });
  bearer = await startProxy(open.url, { bearer: creds });
  tamper = await startProxy(open.url, { tamperBlobsOver: 100_000 });
  stall = await startProxy(open.url, { stallBlobs: true });
  p = await tempProvisioner({ pullProgressTimeoutSec: 1 });
}, 120_000);

afterAll(async () => {
  await p?.cleanup();
  for (const s of [bearer, tamper, stall]) await s?.stop();
  await open?.stop();
  await basic?.stop();
});

describe('basic auth (htpasswd)', () => {
  const ref = (): string => `${basic.host}/private/busybox:1`;

  it('refuses without or with wrong credentials as Unauthenticated', async () => {
    await expect(p.store.pull(ref(), {}, ctx)).rejects.toMatchObject({ code: 'Unauthenticated' });
    await expect(p.store.pull(ref(), { auth: { username: 'alice', password: 'wrong' } }, ctx)).rejects.toMatchObject({ code: 'Unauthenticated' });
    expect(await p.store.resolve(ref())).toBeUndefined();
  });

  it('pulls with username/password and with the base64 auth field', async () => {
    expect((await p.store.pull(ref(), { auth: creds }, ctx)).repoTags).toEqual([ref()]);
    const auth = Buffer.from('alice:s3cret').toString('base64');
    expect((await p.store.pull(ref(), { auth: { auth } }, ctx)).repoTags).toEqual([ref()]);
  });
});

describe('bearer token flow', () => {
  it('gets a token with credentials, caches it, and refuses bad ones', async () => {
    const ref = `${bearer.host}/busybox:1`;
    await expect(p.store.pull(ref, { auth: { username: 'alice', password: 'nope' } }, ctx)).rejects.toMatchObject({ code: 'Unauthenticated' });
    await expect(p.store.pull(ref, {}, ctx)).rejects.toMatchObject({ code: 'Unauthenticated' });
    const rec = await p.store.pull(ref, { auth: creds }, ctx);
    expect(rec.repoTags).toEqual([ref]);
    // manifest, config and two layers all went through on one cached token
    expect(bearer.tokensIssued).toBe(1);
    expect(bearer.requests.filter((r) => r.startsWith('GET /token')).length).toBeGreaterThanOrEqual(1);
  });

  it('exchanges an identity token (OAuth2 refresh token) for an access token', async () => {
    const ref = `${bearer.host}/busybox:1`;
    await expect(p.store.pull(ref, { auth: { identityToken: 'bad' } }, ctx)).rejects.toMatchObject({ code: 'Unauthenticated' });
    expect((await p.store.pull(ref, { auth: { identityToken: creds.password } }, ctx)).repoTags).toEqual([ref]);
    expect(bearer.requests).toContain('POST /token');
  });

  it('sends a given registry token as is, and refuses a bad one', async () => {
    await expect(p.store.pull(`${bearer.host}/busybox:1`, { auth: { registryToken: 'forged' } }, ctx)).rejects.toMatchObject({ code: 'Unauthenticated' });
  });
});

describe('integrity and progress', () => {
  it('fails a pull whose blobs do not match their digests, storing nothing', async () => {
    const ref = `${tamper.host}/tampered:1`;
    const err = await p.store.pull(ref, {}, ctx).catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/failed to verify layer sha256:[0-9a-f]{64}: digest mismatch/);
    expect(await p.store.resolve(ref)).toBeUndefined();
    expect((await p.store.list()).some((r) => r.repoTags.includes(ref))).toBe(false);
    const img = await (await fetch(`${open.url}/v2/tampered/manifests/1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json() as { layers: Array<{ digest: string }> };
    expect(existsSync(layerDir(p.workDir, img.layers[1]!.digest))).toBe(false);
    const staged = await readdir(stagingDir(p.workDir)).catch(() => []);
    expect(staged).toEqual([]);
  });

  it('fails a pull whose uncompressed layer does not match the config diff id', async () => {
    const layer = await buildLayer([{ name: 'f', content: randomBytes(1000) }]);
    const { ref } = await pushImage(open, 'baddiff:1', buildImage([{ ...layer, diffId: `sha256:${'0'.repeat(64)}` }]));
    await expect(p.store.pull(ref, {}, ctx)).rejects.toThrow(/failed to verify uncompressed layer .*digest mismatch/);
    expect(await p.store.resolve(ref)).toBeUndefined();
    expect(existsSync(layerDir(p.workDir, layer.digest))).toBe(false);
  });

  it('cancels a pull that makes no progress for the configured time', async () => {
    const ref = `${stall.host}/stalled:1`;
    const started = Date.now();
    await expect(p.store.pull(ref, {}, ctx)).rejects.toThrow(/no progress for/);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await p.store.resolve(ref)).toBeUndefined();
  });
});
