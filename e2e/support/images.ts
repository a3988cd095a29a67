import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { startRegistry, type TestRegistry } from './registry';

/**
 * Test images built from Debian's static busybox, and a plain-HTTP push per
 * the distribution spec. Quick use from any e2e test:
 *
 *   const reg = await ensureTestRegistry();              // one shared registry per test file
 *   const { ref } = await pushBusybox(reg, 'busybox:1'); // ref = '127.0.0.1:PORT/busybox:1'
 *   ...pull `ref` through the daemon...
 *   afterAll(() => stopTestRegistry());
 */
export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  content?: Buffer | string;
  devmajor?: number;
  devminor?: number;
  /** PAX records, e.g. `{ 'SCHILY.xattr.user.test': 'v' }`. */
  pax?: Record<string, string>;
}

export type Compression = 'gzip' | 'zstd' | 'none';

export interface Blob {
  readonly digest: string;
  readonly size: number;
  readonly data: Buffer;
  readonly mediaType: string;
}

export interface BuiltLayer extends Blob {
  readonly diffId: string;
}

export interface BuiltImage {
  readonly config: Blob;
  readonly layers: BuiltLayer[];
  readonly manifest: Blob;
}

export const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const blob = (data: Buffer, mediaType: string): Blob => ({ digest: digestOf(data), size: data.length, data, mediaType });

const EPOCH = new Date('2024-01-01T00:00:00Z');

export async function tarOf(entries: readonly TarEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const content = e.content === undefined ? undefined : Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content);
    const header = {
      name: e.name,
      type: e.type ?? 'file',
      mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? EPOCH,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      ...(e.pax ? { pax: e.pax } : {}),
      ...(content ? { size: content.length } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      if (content) p.entry(header, content, (err) => (err ? reject(err) : resolve()));
      else p.entry(header, (err) => (err ? reject(err) : resolve())).end(undefined);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function compress(tar: Buffer, c: Compression): Buffer {
  if (c === 'none') return tar;
  if (c === 'gzip') return gzipSync(tar, { level: 1 });
  const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

const LAYER_TYPES: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

export async function buildLayer(entries: readonly TarEntry[], compression: Compression = 'gzip'): Promise<BuiltLayer> {
  const tar = await tarOf(entries);
  return { ...blob(compress(tar, compression), LAYER_TYPES[compression]), diffId: digestOf(tar) };
}

let applets: string[] | undefined;

/** `/bin/busybox` of busybox-static plus its applet links, `/etc/passwd` and the usual dirs. */
export function busyboxEntries(): TarEntry[] {
  applets ??= execFileSync('/bin/busybox', ['--list']).toString().split('\n').filter((a) => /^[\w.[\]-]+$/.test(a) && a !== 'busybox');
  const dirs = ['bin', 'etc', 'tmp', 'root', 'proc', 'sys', 'dev', 'var', 'home'];
  return [
    ...dirs.map((d): TarEntry => ({ name: `${d}/`, type: 'directory', mode: d === 'tmp' ? 0o1777 : 0o755 })),
    { name: 'bin/busybox', content: readFileSync('/bin/busybox'), mode: 0o755 },
    ...applets.map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' },
    { name: 'etc/group', content: 'root:x:0:\nnogroup:x:65534:\n' },
  ];
}

export interface ImageOptions {
  readonly platform?: { os: string; architecture: string };
  readonly cmd?: string[];
  readonly entrypoint?: string[];
  readonly env?: string[];
  readonly workingDir?: string;
  readonly user?: string;
  readonly labels?: Record<string, string>;
  readonly stopSignal?: string;
  /** Image `Volumes` (paths). */
  readonly volumes?: string[];
  /** Docker schema 2 media types instead of OCI. */
  readonly docker?: boolean;
}

export function buildImage(layers: readonly BuiltLayer[], opts: ImageOptions = {}): BuiltImage {
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const config = {
    architecture: platform.architecture,
    os: platform.os,
    created: EPOCH.toISOString(),
    config: {
      Env: opts.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: opts.cmd ?? ['sh'],
      ...(opts.entrypoint ? { Entrypoint: opts.entrypoint } : {}),
      ...(opts.workingDir ? { WorkingDir: opts.workingDir } : {}),
      ...(opts.user ? { User: opts.user } : {}),
      ...(opts.labels ? { Labels: opts.labels } : {}),
      ...(opts.stopSignal ? { StopSignal: opts.stopSignal } : {}),
      ...(opts.volumes ? { Volumes: Object.fromEntries(opts.volumes.map((v) => [v, {}])) } : {}),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  const docker = opts.docker ?? false;
  const cfg = blob(Buffer.from(JSON.stringify(config)), docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json');
  const layerType = (l: BuiltLayer): string => (docker && l.mediaType.endsWith('+gzip') ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : l.mediaType);
  const mt = docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
  const manifest = {
    schemaVersion: 2,
    mediaType: mt,
    config: { mediaType: cfg.mediaType, digest: cfg.digest, size: cfg.size },
    layers: layers.map((l) => ({ mediaType: layerType(l), digest: l.digest, size: l.size })),
  };
  return { config: cfg, layers: [...layers], manifest: blob(Buffer.from(JSON.stringify(manifest)), mt) };
}

export async function buildBusybox(opts: ImageOptions & { compression?: Compression; extra?: readonly TarEntry[] } = {}): Promise<BuiltImage> {
  const layers = [await buildLayer(busyboxEntries(), opts.compression ?? 'gzip')];
  if (opts.extra && opts.extra.length > 0) layers.push(await buildLayer(opts.extra, opts.compression ?? 'gzip'));
  return buildImage(layers, opts);
}

const authHeader = (reg: TestRegistry): Record<string, string> =>
  reg.auth ? { authorization: `Basic ${Buffer.from(`${reg.auth.username}:${reg.auth.password}`).toString('base64')}` } : {};

async function check(res: Response, what: string): Promise<void> {
  if (!res.ok) throw new Error(`failed to ${what}: HTTP ${res.status} ${await res.text()}`);
  await res.body?.cancel().catch(() => undefined);
}

export async function pushBlob(reg: TestRegistry, repo: string, b: Blob): Promise<void> {
  const head = await fetch(`${reg.url}/v2/${repo}/blobs/${b.digest}`, { method: 'HEAD', headers: authHeader(reg) });
  if (head.ok) return;
  const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: authHeader(reg) });
  await check(start, `start upload to ${repo}`);
  const loc = new URL(start.headers.get('location') ?? '', reg.url);
  loc.searchParams.set('digest', b.digest);
  const put = await fetch(loc, { method: 'PUT', body: b.data, headers: { ...authHeader(reg), 'content-type': 'application/octet-stream' } });
  await check(put, `upload ${b.digest} to ${repo}`);
}

export async function pushManifest(reg: TestRegistry, repo: string, reference: string, m: Blob): Promise<void> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: m.data, headers: { ...authHeader(reg), 'content-type': m.mediaType } });
  await check(res, `push manifest ${repo}:${reference}`);
}

/** Pushes layers, config and manifest; `nameTag` is `repo:tag` (no host). Returns the pullable reference. */
export async function pushImage(reg: TestRegistry, nameTag: string, img: BuiltImage): Promise<{ ref: string; manifestDigest: string; configDigest: string }> {
  const [repo, tag = 'latest'] = nameTag.split(':') as [string, string?];
  for (const l of img.layers) await pushBlob(reg, repo, l);
  await pushBlob(reg, repo, img.config);
  await pushManifest(reg, repo, tag, img.manifest);
  return { ref: `${reg.host}/${repo}:${tag}`, manifestDigest: img.manifest.digest, configDigest: img.config.digest };
}

/** Pushes several images under one OCI index (multi-platform). */
export async function pushIndex(reg: TestRegistry, nameTag: string, imgs: readonly BuiltImage[], platforms: ReadonlyArray<{ os: string; architecture: string }>): Promise<{ ref: string; indexDigest: string }> {
  const [repo, tag = 'latest'] = nameTag.split(':') as [string, string?];
  for (const img of imgs) {
    for (const l of img.layers) await pushBlob(reg, repo, l);
    await pushBlob(reg, repo, img.config);
    await pushManifest(reg, repo, img.manifest.digest, img.manifest);
  }
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: imgs.map((img, i) => ({ mediaType: img.manifest.mediaType, digest: img.manifest.digest, size: img.manifest.size, platform: platforms[i] })),
  };
  const b = blob(Buffer.from(JSON.stringify(index)), 'application/vnd.oci.image.index.v1+json');
  await pushManifest(reg, repo, tag, b);
  return { ref: `${reg.host}/${repo}:${tag}`, indexDigest: b.digest };
}

/** Builds a busybox image (optionally with an extra layer) and pushes it as `nameTag`. */
export async function pushBusybox(reg: TestRegistry, nameTag: string, opts: Parameters<typeof buildBusybox>[0] = {}): Promise<{ ref: string; manifestDigest: string; configDigest: string }> {
  return pushImage(reg, nameTag, await buildBusybox(opts));
}

let shared: Promise<TestRegistry> | undefined;

/** One open registry per test process, started on first use. Stop it in `afterAll` with `stopTestRegistry()`. */
export function ensureTestRegistry(): Promise<TestRegistry> {
  shared ??= startRegistry();
  return shared;
}

export async function stopTestRegistry(): Promise<void> {
  const s = shared;
  shared = undefined;
  if (s) await (await s).stop();
}
