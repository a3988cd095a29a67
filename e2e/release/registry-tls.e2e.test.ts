import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pushBusybox } from '../support/images';
import { startRegistry, type TestRegistry } from '../support/registry';
import { privateBase, privateDirs, startOwnDaemon, type OwnDaemon } from './own-daemon';
import { makePki, startTlsRegistry, type RunningRegistry, type TestPki } from './tls-registry';

/**
 * Issue 16: registries as containerd's certs.d. A docker-registry served
 * with TLS from a CA this test makes, requiring a client certificate; a
 * pull-only mirror with a resolve-only one; a loopback CONNECT proxy; a
 * credentials file. Storage is shared with a plain registry we push to.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => {
    server.closeAllConnections?.();
    server.close(() => r());
  }));
  return (server.address() as AddressInfo).port;
}

/** A CONNECT proxy that maps `registry.test` to loopback and records every tunnel asked for. */
async function startProxy(seen: string[]): Promise<number> {
  const server = createHttpServer((_req, res) => res.writeHead(405).end());
  const sockets = new Set<Socket>();
  server.on('connect', (req, client: Socket) => {
    seen.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    if (host !== 'registry.test') {
      client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      return;
    }
    const up = connect(Number(port), '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.pipe(client).pipe(up);
    });
    sockets.add(up).add(client);
    const done = (): void => void (up.destroy(), client.destroy());
    up.on('error', done).on('close', done);
    client.on('error', done).on('close', done);
  });
  const port = await listen(server);
  cleanups.push(() => sockets.forEach((s) => s.destroy()));
  return port;
}

/** A resolve-only mirror: forwards manifest requests to `upstream`, refuses blobs, records paths. */
async function startManifestOnly(upstream: number, seen: string[]): Promise<number> {
  const server = createHttpServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url !== '/v2/' && !/\/manifests\//.test(req.url ?? '')) return void res.writeHead(500).end('no blobs here');
    const up = httpRequest({ host: '127.0.0.1', port: upstream, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    up.end();
  });
  return listen(server);
}

type PullRes = { image_ref: string };

describe('registry TLS, mirrors, proxy and credentials', () => {
  let d: OwnDaemon;
  let pki: TestPki;
  let tlsReg: RunningRegistry;
  let plain: RunningRegistry;
  let certsD: string;
  const proxied: string[] = [];

  it('pulls from a TLS registry with the CA and client certificate of hosts.toml, applied on SIGHUP', async () => {
    const base = privateBase();
    const work = join(base, 'pki');
    mkdirSync(work);
    pki = makePki(work, ['registry.test', '127.0.0.1']);
    const storage = join(base, 'storage');
    mkdirSync(storage);
    plain = await startTlsRegistry(storage, undefined, work);
    cleanups.push(() => plain.stop());
    tlsReg = await startTlsRegistry(storage, pki, work);
    cleanups.push(() => tlsReg.stop());
    const pushTo = { host: `127.0.0.1:${plain.port}`, url: `http://127.0.0.1:${plain.port}` } as TestRegistry;
    await pushBusybox(pushTo, 'tls/busybox:1');

    const proxyPort = await startProxy(proxied);
    certsD = join(base, 'certs.d');
    const hostDir = join(certsD, `127.0.0.1:${tlsReg.port}`);
    mkdirSync(hostDir, { recursive: true });
    // The CA but no client certificate yet: the registry refuses the handshake.
    writeFileSync(join(hostDir, 'hosts.toml'), `server = "https://127.0.0.1:${tlsReg.port}"\nca = "${pki.ca}"\n`);
    writeFileSync(join(base, 'config.yaml'), `registry:\n  configPath: ${certsD}\n  credentialsFile: ${join(base, 'auth.json')}\n`);
    d = await startOwnDaemon(base, ['--config', join(base, 'config.yaml'), ...privateDirs(base)], {
      env: { HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: '' },
    });
    cleanups.push(() => d.cleanup());

    const ref = `127.0.0.1:${tlsReg.port}/tls/busybox:1`;
    await expect(d.image.call('PullImage', { image: { image: ref } })).rejects.toThrow(/failed to reach registry endpoint https:\/\/127\.0\.0\.1/);
    writeFileSync(join(hostDir, 'hosts.toml'), `server = "https://127.0.0.1:${tlsReg.port}"\nca = "${pki.ca}"\nclient = [["${pki.clientCert}", "${pki.clientKey}"]]\n`);
    d.child.kill('SIGHUP');
    await d.waitLog(/configuration reloaded/);
    expect((await d.image.call<PullRes>('PullImage', { image: { image: ref } })).image_ref).toMatch(/^sha256:/);
    // Loopback is never proxied (Go's rule).
    expect(proxied).toEqual([]);
  });

  it('resolves the tag at a resolve-only mirror and fetches content from a pull-only TLS mirror with skip_verify', async () => {
    const seen: string[] = [];
    const manifestsOnly = await startManifestOnly(plain.port, seen);
    const dir = join(certsD, 'mirrored.test');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'hosts.toml'),
      [
        'server = "https://mirrored.test"',
        `[host."http://127.0.0.1:${manifestsOnly}"]`,
        '  capabilities = ["resolve"]',
        `[host."https://127.0.0.1:${tlsReg.port}"]`,
        '  capabilities = ["pull"]',
        '  skip_verify = true',
        `  client = "${join(pki.dir, 'client-both.pem')}"`,
      ].join('\n') + '\n',
    );
    const { readFileSync } = await import('node:fs');
    writeFileSync(join(pki.dir, 'client-both.pem'), readFileSync(pki.clientCert, 'utf8') + readFileSync(pki.clientKey, 'utf8'));
    d.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    const res = await d.image.call<PullRes>('PullImage', { image: { image: 'mirrored.test/tls/busybox:1' } });
    expect(res.image_ref).toMatch(/^sha256:/);
    expect(seen.some((s) => /^GET \/v2\/tls\/busybox\/manifests\/1$/.test(s))).toBe(true);
    expect(seen.filter((s) => /blobs|manifests\/sha256/.test(s))).toEqual([]);
    // The origin was never asked: it sits behind the proxy, which saw nothing for it.
    expect(proxied.filter((p) => p.startsWith('mirrored.test'))).toEqual([]);
  });

  it('reaches a registry named in DNS through the CONNECT proxy, with Docker-style certificate files', async () => {
    const dir = join(certsD, `registry.test:${tlsReg.port}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(pki.ca, join(dir, 'ca.crt'));
    copyFileSync(pki.clientCert, join(dir, 'client.cert'));
    copyFileSync(pki.clientKey, join(dir, 'client.key'));
    d.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    const res = await d.image.call<PullRes>('PullImage', { image: { image: `registry.test:${tlsReg.port}/tls/busybox:1` } });
    expect(res.image_ref).toMatch(/^sha256:/);
    expect(proxied).toContain(`registry.test:${tlsReg.port}`);
    // Without the CA the server certificate is refused (verified, not skipped).
    rmSync(join(dir, 'ca.crt'));
    d.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    await d.image.call('RemoveImage', { image: { image: res.image_ref } });
    await expect(d.image.call('PullImage', { image: { image: `registry.test:${tlsReg.port}/tls/busybox:1` } })).rejects.toThrow(/failed to reach registry endpoint/);
  });

  it('takes credentials from a config.json-format file for pulls that carry none', async () => {
    const auth = await startRegistry({ auth: { username: 'op', password: 's3cret' } });
    cleanups.push(() => auth.stop());
    await pushBusybox(auth, 'private/busybox:1');
    const ref = `${auth.host}/private/busybox:1`;
    await expect(d.image.call('PullImage', { image: { image: ref } })).rejects.toThrow(/requires credentials/);
    writeFileSync(join(d.base, 'auth.json'), JSON.stringify({ auths: { [`${auth.host}/private`]: { auth: Buffer.from('op:s3cret').toString('base64') } } }));
    expect((await d.image.call<PullRes>('PullImage', { image: { image: ref } })).image_ref).toMatch(/^sha256:/);
    writeFileSync(join(d.base, 'auth.json'), JSON.stringify({ auths: { [auth.host]: { username: 'op', password: 'wrong' } } }));
    await d.image.call('RemoveImage', { image: { image: ref } });
    await expect(d.image.call('PullImage', { image: { image: ref } })).rejects.toThrow(/credentials rejected/);
  });
});
