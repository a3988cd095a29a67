import { mkdir } from 'node:fs/promises';
import { background, type Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { log } from '../../common/log';
import type { SpawnServer } from '../../common/spawn-server';
import { storeDir } from '../paths';
import { formatReference, parseReference } from '../reference';
import type { RwLock } from '../sync';
import { Inflight } from '../sync';
import type { AuthConfig, ImageRecord } from '../types';
import { diskUsage } from '../usage';
import { BlobStore } from './blob-store';
import { ImageIndex, toRecord, type StoredImage } from './image-index';
import { LayerStore } from './layer-store';
import { ArchivePuller } from './archive-puller';
import type { PullSnapshot } from '../../common/metrics';
import { PullTracker } from './progress';
import type { PulledImage } from './puller';
import { RegistryPuller } from './registry-puller';
import { RegistryClient } from './registry-client';
import { createNodeHttp, type HttpClient } from './registry-http';
import { credentialsFromFile } from './credentials';
import { loadHostsDir, systemCaCertificates, type HostsDir, type TlsSettings } from './hosts';
import { createTransport } from './transport';

const FS_INFO_TTL_MS = 5_000;

export interface FsInfo {
  /** The store directory (containerd reports its snapshotter root). */
  mountpoint: string;
  usedBytes: bigint;
  inodesUsed: bigint;
  /** Nanoseconds since the epoch when measured. */
  timestamp: bigint;
}

/** What the CRI ImageService needs (see `provisioner.ts` for the contract). */
export interface ImageStore {
  pull(ref: string, opts: { auth?: AuthConfig }, ctx: Ctx): Promise<ImageRecord>;
  resolve(refOrId: string): Promise<ImageRecord | undefined>;
  list(filter?: { ref?: string }): Promise<ImageRecord[]>;
  remove(refOrId: string, ctx: Ctx): Promise<boolean>;
  fsInfo(): Promise<FsInfo>;
  /** Pulls in flight, per layer. */
  pulls(): PullSnapshot[];
  /** The pull of `ref` in flight (any spelling of the reference), if any. */
  pullOf(ref: string): PullSnapshot | undefined;
  /** Loads the images of an OCI layout or docker archive (`mesos-cri images import`). */
  importArchive(file: string, ctx: Ctx): Promise<ImageRecord[]>;
}

export interface DockerStoreOptions {
  readonly workDir: string;
  readonly mirrors: Record<string, string[]>;
  readonly insecure: string[];
  readonly pullProgressTimeoutSec: number;
  readonly maxConcurrentDownloads: number;
  readonly progressLogIntervalMs?: number;
  /** Largest uncompressed layer accepted (`LayerStore`). */
  readonly maxLayerBytes?: number;
  /** Shared with the provisioner: pulls read, removal and prune write. */
  readonly lock: RwLock;
  /** Layers used by provisioned containers, which removal must keep. */
  /** `'unknown'` while some rootfs's layers cannot be told (its checkpoint is unreadable): no layer is removed then. */
  readonly layersInUse: () => ReadonlySet<string> | 'unknown';
  /** Injected by tests; `node:http(s)` otherwise. */
  readonly http?: HttpClient;
  /** Issue 16: the `certs.d` dir (containerd `config_path`); empty: none. */
  readonly hostsDir?: string;
  /** Issue 16: references or ids never garbage-collected, reported `pinned` (containerd's pinned images). */
  readonly pinned?: readonly string[];
  /** Issue 16: Docker `config.json` / `auth.json` credentials for pulls that carry none; empty: none. */
  readonly credentialsFile?: string;
  /** Starts the layer unpack helper without forking the daemon; default: forked. */
  readonly spawnServer?: SpawnServer;
}

/** Registry settings that SIGHUP can change. */
export interface RegistrySettings {
  readonly mirrors: Record<string, string[]>;
  readonly insecure: string[];
  readonly configPath?: string;
  readonly credentialsFile?: string;
}

export class DockerStore implements ImageStore {
  readonly index: ImageIndex;
  readonly layers: LayerStore;
  readonly blobs: BlobStore;
  readonly #registry: RegistryPuller;
  readonly #archive: ArchivePuller;
  readonly #pulls = new Inflight<StoredImage>();
  readonly #tracker = new PullTracker();
  /** Bumped by every change to the store's content, to invalidate the cached `fsInfo`. */
  #generation = 0;
  #gcQueued = false;
  #gcDone: Promise<void> | undefined;
  #fsInfo: { info: FsInfo; at: number; generation: number } | undefined;
  #systemCas: readonly string[] | undefined;
  /** TLS per origin from the hosts dir, for requests that name no endpoint (token realms). */
  #tlsByOrigin = new Map<string, TlsSettings>();
  #credentialsFile: string;
  /** Normalized references and ids of pinned images. */
  readonly #pinned: ReadonlySet<string>;

  constructor(private readonly opts: DockerStoreOptions) {
    this.index = new ImageIndex(opts.workDir);
    this.layers = new LayerStore(opts.workDir, opts.maxLayerBytes, opts.spawnServer);
    this.blobs = new BlobStore(opts.workDir);
    this.#archive = new ArchivePuller(opts.workDir, { blobs: this.blobs, layers: this.layers });
    this.#credentialsFile = opts.credentialsFile ?? '';
    this.#pinned = new Set(
      (opts.pinned ?? []).map((r) => {
        if (/^(sha256:)?[0-9a-f]{64}$/.test(r)) return r.startsWith('sha256:') ? r : `sha256:${r}`;
        return formatReference(parseReference(r));
      }),
    );
    const base = opts.http ?? createNodeHttp(createTransport(() => this.#systemCas));
    const http: HttpClient = (url, req) => base(url, req.tls || !this.#tlsByOrigin.has(url.origin) ? req : { ...req, tls: this.#tlsByOrigin.get(url.origin)! });
    this.#registry = new RegistryPuller({
      client: new RegistryClient(http),
      blobs: this.blobs,
      layers: this.layers,
      layerInflight: new Inflight<void>(),
      mirrors: opts.mirrors,
      insecure: opts.insecure,
      maxConcurrentDownloads: opts.maxConcurrentDownloads,
      stallMs: opts.pullProgressTimeoutSec * 1000,
      logMs: opts.progressLogIntervalMs ?? 10_000,
      tracker: this.#tracker,
    });
  }

  /**
   * Issue 16: registry settings, at start and on SIGHUP; pulls started
   * afterwards use them. An invalid hosts dir throws and changes nothing.
   */
  async configureRegistry(registry: RegistrySettings): Promise<void> {
    this.#systemCas ??= await systemCaCertificates();
    const hosts = await loadHostsDir(registry.configPath ?? '');
    const byOrigin = new Map<string, TlsSettings>();
    for (const cfg of hosts.values()) {
      for (const h of [...cfg.hosts, ...(cfg.server?.url ? [{ ...cfg.server, url: cfg.server.url }] : [])]) {
        if (h.tls) byOrigin.set(new URL(h.url).origin, h.tls);
      }
    }
    this.#tlsByOrigin = byOrigin;
    this.#credentialsFile = registry.credentialsFile ?? '';
    this.#registry.configure({ mirrors: registry.mirrors, insecure: registry.insecure, hosts: hosts as HostsDir });
  }

  /** Issue 16: whether the configuration pins `s` (by id, tag or digest reference). */
  isPinned(s: StoredImage): boolean {
    return s.pinned || this.#pinned.has(s.id) || s.repoTags.some((t) => this.#pinned.has(t)) || s.repoDigests.some((d) => this.#pinned.has(d));
  }

  #record(s: StoredImage): ImageRecord {
    return { ...toRecord(s), pinned: this.isPinned(s) };
  }

  /** Loads metadata and drops half-made layers (Mesos `Store::recover`). */
  async recover(): Promise<void> {
    await mkdir(storeDir(this.opts.workDir), { recursive: true });
    if (!this.opts.http) {
      await this.configureRegistry({
        mirrors: this.opts.mirrors,
        insecure: this.opts.insecure,
        ...(this.opts.hostsDir !== undefined ? { configPath: this.opts.hostsDir } : {}),
        credentialsFile: this.#credentialsFile,
      });
    }
    await this.layers.recover();
    await this.index.load();
  }

  async pull(ref: string, opts: { auth?: AuthConfig }, ctx: Ctx): Promise<ImageRecord> {
    const parsed = parseReference(ref);
    const name = formatReference(parsed);
    // Concurrent pulls of one reference share one pull (and its outcome).
    const auth = opts.auth ?? (await credentialsFromFile(this.#credentialsFile, parsed.domain, parsed.path));
    const stored = await this.#pulls
      .run(`${name} ${JSON.stringify(auth ?? {})}`, () =>
        this.opts.lock.read(async () => {
          let stored: StoredImage | undefined;
          try {
            for await (const pulled of this.#registry.pull({ ref: parsed, auth }, ctx)) stored = await this.#put(pulled);
          } finally {
            this.#generation++;
          }
          if (!stored) throw new CriError('Internal', `failed to pull ${name}: the registry puller stored no image`);
          return stored;
        }),
      )
      .catch((err: unknown) => {
        this.#gcAfterFailedPull();
        throw err;
      });
    return this.#record(stored);
  }

  /**
   * What a failed pull stored (layers and blobs no image references) goes
   * once no pull, import or provision holds the lock; one GC covers every
   * failure that happened while it waited.
   */
  #gcAfterFailedPull(): void {
    if (this.#gcQueued) return;
    this.#gcQueued = true;
    this.#gcDone = this.opts.lock
      .write(() => {
        this.#gcQueued = false;
        return this.gc(this.opts.layersInUse(), background());
      })
      .then(
        () => undefined,
        (err: unknown) => log.warn({ err }, 'failed to remove what a failed pull left'),
      );
  }

  /** The last GC scheduled after a failed pull (tests await it). */
  get gcAfterFailure(): Promise<void> | undefined {
    return this.#gcDone;
  }

  pulls(): PullSnapshot[] {
    return this.#tracker.snapshots();
  }

  pullOf(ref: string): PullSnapshot | undefined {
    let name: string;
    try {
      name = formatReference(parseReference(ref));
    } catch {
      return undefined;
    }
    return this.#tracker.find(name);
  }

  async resolve(refOrId: string): Promise<ImageRecord | undefined> {
    const s = this.index.find(refOrId);
    return s ? this.#record(s) : undefined;
  }

  /** `StoredImage` for the provisioner (layers). */
  find(refOrId: string): StoredImage | undefined {
    return this.index.find(refOrId);
  }

  async list(filter?: { ref?: string }): Promise<ImageRecord[]> {
    if (filter?.ref) {
      const s = this.index.find(filter.ref);
      return s ? [this.#record(s)] : [];
    }
    return this.index.all().map((i) => this.#record(i));
  }

  async remove(refOrId: string, ctx: Ctx): Promise<boolean> {
    return this.opts.lock.write(async () => {
      const s = this.index.find(refOrId);
      if (!s) return false;
      let canonical: string | undefined;
      try {
        canonical = formatReference(parseReference(refOrId));
      } catch {
        canonical = undefined;
      }
      // Removing one of several tags only untags (docker `rmi` of a tag).
      if (canonical !== undefined && s.repoTags.includes(canonical) && s.repoTags.length > 1) {
        await this.index.untag(s, canonical);
        return true;
      }
      await this.index.delete(s.id);
      await this.gc(this.opts.layersInUse(), ctx);
      return true;
    });
  }

  /**
   * Removes blobs and layers no image references and (layers) no container
   * uses. Callers hold the lock exclusively.
   */
  async gc(inUse: ReadonlySet<string> | 'unknown', ctx: Ctx): Promise<{ layers: number; blobs: number }> {
    if (this.index.hasUnreadable()) {
      log.warn({}, 'keeping all image content: some image record cannot be read (see the start-up log)');
      return { layers: 0, blobs: 0 };
    }
    const wantBlobs = new Set<string>();
    const wantLayers = new Set<string>(inUse === 'unknown' ? [] : inUse);
    for (const s of this.index.all()) {
      for (const d of s.manifestDigests) wantBlobs.add(d);
      wantBlobs.add(s.configDigest);
      for (const l of s.layers) wantLayers.add(l.digest);
    }
    let layers = 0;
    let blobs = 0;
    this.#generation++;
    if (inUse === 'unknown') log.warn({}, 'keeping every layer: the layers of some container rootfs are unknown (see the recovery log)');
    for (const d of inUse === 'unknown' ? [] : await this.layers.list()) {
      ctx.signal.throwIfAborted();
      if (!wantLayers.has(d)) {
        await this.layers.remove(d);
        layers++;
      }
    }
    for (const d of await this.blobs.list()) {
      if (!wantBlobs.has(d)) {
        await this.blobs.remove(d);
        blobs++;
      }
    }
    if (layers + blobs > 0) log.info({ layers, blobs }, 'removed unused image content');
    return { layers, blobs };
  }

  /** Records an image a puller stored, under each of its tags; the caller holds the lock. */
  async #put(pulled: PulledImage): Promise<StoredImage> {
    let s = pulled.tags.length === 0 ? await this.index.put(pulled.image, undefined) : undefined;
    for (const t of pulled.tags) s = await this.index.put(pulled.image, t);
    return s!;
  }

  /** Loads an OCI layout or docker archive (see `archive-puller.ts`). */
  async importArchive(file: string, ctx: Ctx): Promise<ImageRecord[]> {
    // Shared like a pull, so a prune cannot take layers before their image is recorded.
    return this.opts.lock.read(async () => {
      const out: ImageRecord[] = [];
      try {
        for await (const pulled of this.#archive.pull(file, ctx)) out.push(this.#record(await this.#put(pulled)));
      } finally {
        this.#generation++;
      }
      return out;
    });
  }

  /**
   * Walks the store like `du`. kubelet asks every few seconds; a result is
   * reused for `FS_INFO_TTL_MS` unless a pull or removal changed the store.
   */
  async fsInfo(): Promise<FsInfo> {
    const now = Date.now();
    if (this.#fsInfo && this.#fsInfo.generation === this.#generation && now - this.#fsInfo.at < FS_INFO_TTL_MS) return this.#fsInfo.info;
    const generation = this.#generation;
    const dir = storeDir(this.opts.workDir);
    const u = await diskUsage(dir);
    const info: FsInfo = { mountpoint: dir, usedBytes: u.bytes, inodesUsed: u.inodes, timestamp: BigInt(now) * 1_000_000n };
    this.#fsInfo = { info, at: now, generation };
    return info;
  }
}
