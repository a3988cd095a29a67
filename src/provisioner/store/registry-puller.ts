import type { Ctx } from '../../common/ctx';
import { CriError, describeError } from '../../common/errors';
import { log } from '../../common/log';
import { sha256, verifyDigest } from '../digest';
import { formatReference, repository, type ImageReference } from '../reference';
import { Inflight, Semaphore } from '../sync';
import type { AuthConfig, LayerDescriptor } from '../types';
import type { BlobStore } from './blob-store';
import { can, endpointsFor, type Endpoint } from './endpoints';
import { hostsFor, type HostsDir } from './hosts';
import type { StoredImage } from './image-index';
import type { LayerStore } from './layer-store';
import { hostPlatform, parseConfig, parseDocument, selectPlatform } from './manifest';
import { pullFinished } from '../../common/metrics';
import { PullProgress, type PullTracker } from './progress';
import type { PulledImage, Puller } from './puller';
import { fallsThrough, type RegistryClient, type RepoSession } from './registry-client';

/** What the registry puller fetches with and stores into. */
export interface PullDeps {
  readonly client: RegistryClient;
  readonly blobs: BlobStore;
  readonly layers: LayerStore;
  readonly layerInflight: Inflight<void>;
  readonly mirrors: Readonly<Record<string, readonly string[]>>;
  readonly insecure: readonly string[];
  /** Issue 16: the `certs.d` hosts (mirrors with capabilities, TLS, headers). */
  readonly hosts?: HostsDir;
  readonly maxConcurrentDownloads: number;
  readonly stallMs: number;
  readonly logMs: number;
  /** Pulls in flight, per layer (the CLI's progress and the metrics). */
  readonly tracker?: PullTracker;
}

const MAX_CONFIG = 8 << 20;

/** A reference to pull and the credentials for its registry, if any. */
export interface RegistrySource {
  readonly ref: ImageReference;
  readonly auth: AuthConfig | undefined;
}

/** Registry settings that SIGHUP can change. */
export type RegistryEndpoints = Pick<PullDeps, 'mirrors' | 'insecure' | 'hosts'>;

/**
 * Pulls from registries (Mesos `RegistryPuller`, containerd `PullImage`):
 * resolves the reference at each endpoint in turn (mirrors, then the
 * origin), selects the linux/<arch> manifest, fetches and verifies the
 * config, then downloads, verifies and extracts the missing layers in
 * parallel, bounded. Yields the one image, tagged unless pulled by digest.
 */
export class RegistryPuller implements Puller<RegistrySource> {
  #deps: PullDeps;

  constructor(deps: PullDeps) {
    this.#deps = deps;
  }

  /** Pulls started afterwards use `endpoints`. */
  configure(endpoints: RegistryEndpoints): void {
    this.#deps = { ...this.#deps, ...endpoints };
  }

  async *pull({ ref, auth }: RegistrySource, ctx: Ctx): AsyncGenerator<PulledImage> {
    const image = await pullImage(this.#deps, ref, auth, ctx);
    yield { image, tags: ref.digest === undefined ? [formatReference(ref)] : [] };
  }
}

async function pullImage(deps: PullDeps, ref: ImageReference, auth: AuthConfig | undefined, ctx: Ctx): Promise<StoredImage> {
  const all = endpointsFor(ref.domain, deps.mirrors, deps.insecure, deps.hosts ? hostsFor(deps.hosts, ref.domain) : undefined);
  // A host that may pull but not resolve (containerd capabilities) serves content by digest only:
  // resolve the tag first at the hosts that may, then pull the digest.
  let target = ref;
  if (ref.digest === undefined && all.some((e) => !can(e, 'resolve') || !can(e, 'pull'))) {
    target = { ...ref, digest: await resolveTag(deps, all.filter((e) => can(e, 'resolve')), ref, auth, ctx) };
  }
  const endpoints = all.filter((e) => can(e, 'pull'));
  for (const [i, ep] of endpoints.entries()) {
    try {
      return await pullFrom(deps, ep, target, auth, ctx);
    } catch (err) {
      if (i === endpoints.length - 1 || !fallsThrough(err) || ctx.signal.aborted) throw err;
      log.warn({ image: formatReference(ref), endpoint: ep.base, err: describeError(err) }, 'endpoint failed, trying the next one');
    }
  }
  throw new CriError('FailedPrecondition', `failed to pull ${formatReference(ref)}: no registry host may pull it (check capabilities in hosts.toml)`);
}

async function resolveTag(deps: PullDeps, endpoints: readonly Endpoint[], ref: ImageReference, auth: AuthConfig | undefined, ctx: Ctx): Promise<string> {
  for (const [i, ep] of endpoints.entries()) {
    try {
      const top = await deps.client.manifest({ endpoint: ep, repo: ref.path, auth }, ref.tag ?? 'latest', ctx);
      return sha256(top.body);
    } catch (err) {
      if (i === endpoints.length - 1 || !fallsThrough(err) || ctx.signal.aborted) throw err;
      log.warn({ image: formatReference(ref), endpoint: ep.base, err: describeError(err) }, 'endpoint failed to resolve, trying the next one');
    }
  }
  throw new CriError('FailedPrecondition', `failed to resolve ${formatReference(ref)}: no registry host may resolve it (check capabilities in hosts.toml)`);
}

async function readBlob(deps: PullDeps, s: RepoSession, digest: string, progress: PullProgress, ctx: Ctx): Promise<Buffer> {
  // Content-addressed and verified on read: a config we hold already is not fetched again (containerd skips present content too).
  const stored = await deps.blobs.get(digest).catch(() => undefined);
  if (stored) return stored;
  const stream = await deps.client.blob(s, digest, ctx);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    progress.add((c as Buffer).length, 0);
    if (n > MAX_CONFIG) {
      stream.destroy();
      throw new CriError('InvalidArgument', `failed to fetch config ${digest}: larger than ${MAX_CONFIG} bytes`);
    }
    chunks.push(c as Buffer);
  }
  const data = Buffer.concat(chunks);
  verifyDigest(data, digest, `config ${digest}`);
  return data;
}

async function pullFrom(deps: PullDeps, endpoint: Endpoint, ref: ImageReference, auth: AuthConfig | undefined, outer: Ctx): Promise<StoredImage> {
  const name = formatReference(ref);
  let total = 0;
  const progress = new PullProgress(name, () => total, { stallMs: deps.stallMs, logMs: deps.logMs, ...(deps.tracker ? { tracker: deps.tracker } : {}) });
  const ctx: Ctx = { signal: AbortSignal.any([outer.signal, progress.signal]) };
  try {
    const image = await pullWith(deps, endpoint, ref, auth, progress, (n) => (total = n), ctx);
    pullFinished('success', (Date.now() - progress.startedAt) / 1000);
    return image;
  } catch (err) {
    // Report the stall rather than the abort it caused.
    const stalled = progress.signal.aborted && !outer.signal.aborted;
    pullFinished(stalled ? 'stalled' : 'failure', (Date.now() - progress.startedAt) / 1000);
    if (stalled) throw progress.signal.reason as Error;
    throw err;
  } finally {
    progress.stop();
  }
}

async function pullWith(
  deps: PullDeps,
  endpoint: Endpoint,
  ref: ImageReference,
  auth: AuthConfig | undefined,
  progress: PullProgress,
  setTotal: (n: number) => void,
  ctx: Ctx,
): Promise<StoredImage> {
  const name = formatReference(ref);
  const s: RepoSession = { endpoint, repo: ref.path, auth };
  const top = await deps.client.manifest(s, ref.digest ?? ref.tag ?? 'latest', ctx);
  const topDigest = sha256(top.body);
  if (ref.digest !== undefined) verifyDigest(top.body, ref.digest, `manifest of ${name}`);
  const blobs: Array<[string, Buffer]> = [[topDigest, top.body]];
  let doc = parseDocument(top.body, top.mediaType, `manifest of ${name}`);
  const manifestDigests = [topDigest];
  if (doc.kind === 'index') {
    const platform = hostPlatform();
    const desc = selectPlatform(doc.manifests, platform);
    if (!desc) throw new CriError('NotFound', `failed to pull ${name}: no manifest for ${platform.os}/${platform.architecture} in the index`);
    const m = await deps.client.manifest(s, desc.digest, ctx);
    verifyDigest(m.body, desc.digest, `manifest ${desc.digest} of ${name}`);
    doc = parseDocument(m.body, desc.mediaType, `manifest ${desc.digest} of ${name}`);
    if (doc.kind !== 'manifest') throw new CriError('InvalidArgument', `failed to pull ${name}: nested index`);
    blobs.push([desc.digest, m.body]);
    manifestDigests.push(desc.digest);
  }
  const manifest = doc.manifest;
  progress.add(0, 0);
  const configBytes = await readBlob(deps, s, manifest.config.digest, progress, ctx);
  const parsed = parseConfig(configBytes, `config of ${name}`);
  if (parsed.diffIds.length !== manifest.layers.length)
    throw new CriError('InvalidArgument', `failed to pull ${name}: ${manifest.layers.length} layers but ${parsed.diffIds.length} diff ids`);
  blobs.push([manifest.config.digest, configBytes]);

  const withDiffIds = manifest.layers.map((l, i) => ({ ...l, diffId: parsed.diffIds[i]! }));
  await fetchLayers(deps, s, name, withDiffIds, progress, setTotal, ctx);
  for (const [d, b] of blobs) await deps.blobs.put(d, b);
  return {
    id: manifest.config.digest,
    repoTags: [],
    repoDigests: [`${repository(ref)}@${topDigest}`],
    manifestDigests,
    configDigest: manifest.config.digest,
    layers: manifest.layers.map((l) => ({ ...l })),
    config: parsed.config,
    pinned: false,
  };
}

async function fetchLayers(
  deps: PullDeps,
  s: RepoSession,
  name: string,
  layers: ReadonlyArray<LayerDescriptor & { diffId: string }>,
  progress: PullProgress,
  setTotal: (n: number) => void,
  ctx: Ctx,
): Promise<void> {
  const missing: Array<LayerDescriptor & { diffId: string }> = [];
  for (const l of layers) if (!(await deps.layers.has(l.digest)) && !missing.some((m) => m.digest === l.digest)) missing.push(l);
  progress.layers(layers, new Set(layers.filter((l) => !missing.includes(l)).map((l) => l.digest)));
  if (missing.length === 0) return;
  setTotal(missing.reduce((n, l) => n + l.size, 0));
  const sem = new Semaphore(deps.maxConcurrentDownloads);
  const started = Date.now();
  const results = await Promise.allSettled(
    missing.map((l) =>
      sem.run(() =>
        // Concurrent pulls that need the same layer share one download.
        deps.layerInflight
          .run(l.digest, () => deps.layers.add(l, (c) => deps.client.blob(s, l.digest, c), progress.layer(l.digest), ctx))
          .then(() => progress.layerDone(l.digest)),
      ),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason as Error;
  log.info({ image: name, layers: missing.length, bytes: progress.downloaded, ms: Date.now() - started }, 'pulled layers');
}
