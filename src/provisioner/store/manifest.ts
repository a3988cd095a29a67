import { CriError } from '../../common/errors';
import type { ImageConfig, LayerDescriptor } from '../types';
import { DIGEST } from '../reference';
import { MT, isIndex, isManifest, layerCompression } from './media-types';

/**
 * Parsing and validation of manifests, indexes and image configs. Anything
 * malformed is refused before a byte of it is trusted.
 */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: { architecture?: string; os?: string; variant?: string };
}

export interface ParsedManifest {
  readonly config: Descriptor;
  readonly layers: readonly LayerDescriptor[];
}

export type ParsedDocument = { kind: 'index'; manifests: Descriptor[] } | { kind: 'manifest'; manifest: ParsedManifest };

const malformed = (what: string): CriError => new CriError('InvalidArgument', `failed to parse ${what}`);

function descriptor(v: unknown, what: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object' || typeof d.digest !== 'string' || !DIGEST.test(d.digest) || typeof d.size !== 'number' || d.size < 0)
    throw malformed(`${what}: bad descriptor`);
  return { mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', digest: d.digest, size: d.size, ...(d.platform ? { platform: d.platform } : {}) };
}

/** `mediaType` is the response's Content-Type (or the referring descriptor's). */
export function parseDocument(body: Buffer, mediaType: string, what: string): ParsedDocument {
  let doc: { mediaType?: string; schemaVersion?: number; manifests?: unknown[]; config?: unknown; layers?: unknown[] };
  try {
    doc = JSON.parse(body.toString('utf8')) as typeof doc;
  } catch (err) {
    throw new CriError('InvalidArgument', `failed to parse ${what}: not JSON`, { cause: err });
  }
  // The document's own mediaType wins; registries sometimes send a generic Content-Type.
  let mt = typeof doc.mediaType === 'string' && doc.mediaType !== '' ? doc.mediaType : mediaType.split(';')[0]!.trim();
  if (!isIndex(mt) && !isManifest(mt)) mt = Array.isArray(doc.manifests) ? MT.ociIndex : doc.config ? MT.ociManifest : mt;
  if (doc.schemaVersion !== 2) throw new CriError('InvalidArgument', `failed to parse ${what}: unsupported schemaVersion ${String(doc.schemaVersion)} (${mt})`);
  if (isIndex(mt)) {
    if (!Array.isArray(doc.manifests)) throw malformed(`${what}: index without manifests`);
    return { kind: 'index', manifests: doc.manifests.map((m) => descriptor(m, what)) };
  }
  if (isManifest(mt)) {
    if (!Array.isArray(doc.layers)) throw malformed(`${what}: manifest without layers`);
    const layers = doc.layers.map((l) => descriptor(l, what));
    for (const l of layers) {
      if (layerCompression(l.mediaType) === undefined)
        throw new CriError('InvalidArgument', `failed to parse ${what}: unsupported layer media type "${l.mediaType}"`);
    }
    return { kind: 'manifest', manifest: { config: descriptor(doc.config, what), layers: layers.map(({ digest, size, mediaType: m }) => ({ digest, size, mediaType: m })) } };
  }
  throw new CriError('InvalidArgument', `failed to parse ${what}: unsupported media type "${mt}"`);
}

/** Node's `process.arch` in OCI `GOARCH` terms. */
export function hostPlatform(): { os: string; architecture: string } {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}

/** Picks the manifest for `platform` from an index (containerd `platforms.Only`). */
export function selectPlatform(manifests: readonly Descriptor[], platform = hostPlatform()): Descriptor | undefined {
  return manifests.find(
    (m) => isManifest(m.mediaType) && (m.platform?.os ?? '') === platform.os && (m.platform?.architecture ?? '') === platform.architecture,
  );
}

interface RawConfig {
  architecture?: string;
  os?: string;
  config?: {
    User?: string; Env?: string[] | null; Entrypoint?: string[] | null; Cmd?: string[] | null; WorkingDir?: string;
    Volumes?: Record<string, unknown> | null; StopSignal?: string; Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, unknown> | null;
  };
  rootfs?: { type?: string; diff_ids?: string[] };
}

export interface ParsedConfig {
  readonly config: ImageConfig;
  readonly diffIds: readonly string[];
}

export function parseConfig(body: Buffer, what: string): ParsedConfig {
  let raw: RawConfig;
  try {
    raw = JSON.parse(body.toString('utf8')) as RawConfig;
  } catch (err) {
    throw new CriError('InvalidArgument', `failed to parse ${what}: not JSON`, { cause: err });
  }
  const c = raw.config ?? {};
  const diffIds = raw.rootfs?.diff_ids ?? [];
  if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string' && DIGEST.test(d))) throw malformed(`${what}: bad rootfs.diff_ids`);
  return {
    diffIds,
    config: {
      user: c.User ?? '',
      env: c.Env ?? [],
      entrypoint: c.Entrypoint ?? [],
      cmd: c.Cmd ?? [],
      workingDir: c.WorkingDir ?? '',
      volumes: Object.keys(c.Volumes ?? {}),
      stopSignal: c.StopSignal ?? '',
      labels: c.Labels ?? {},
      exposedPorts: Object.keys(c.ExposedPorts ?? {}),
    },
  };
}
