import { CriError } from '../common/errors';

/**
 * Image references, normalised the way containerd (docker/distribution
 * `ParseNormalizedNamed`) does: `busybox` is `docker.io/library/busybox:latest`,
 * `foo/bar@sha256:…` keeps only the digest. The grammar follows
 * `distribution/reference/regexp.go`.
 */
export interface ImageReference {
  /** Registry host, e.g. `docker.io` or `127.0.0.1:5000`. */
  readonly domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
const MAX_NAME = 255;

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
export const DIGEST = /^sha256:[a-f0-9]{64}$/;
export const IMAGE_ID = /^(?:sha256:)?[a-f0-9]{64}$/;

const bad = (ref: string, why: string): CriError =>
  new CriError('InvalidArgument', `failed to parse image reference "${ref}": ${why}`);

function validDomain(domain: string): boolean {
  if (/^\[[a-fA-F0-9:]+\](?::\d+)?$/.test(domain)) return true; // IPv6 literal
  const [host, port, ...rest] = domain.split(':');
  if (rest.length > 0 || host === undefined) return false;
  if (port !== undefined && !/^\d+$/.test(port)) return false;
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/** Parses and normalises `ref`; throws `InvalidArgument` for malformed input. */
export function parseReference(ref: string): ImageReference {
  if (ref === '' || ref !== ref.trim()) throw bad(ref, 'empty or padded');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(ref, `invalid digest "${digest}"`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(ref, `invalid tag "${tag}"`);
  }
  if (rest === '') throw bad(ref, 'missing repository');
  // The bare 64-hex form is an image id, never a repository name (distribution
  // refuses it too, to avoid ambiguity).
  if (/^[a-f0-9]{64}$/.test(rest)) throw bad(ref, 'repository name must not be a 64-character hex string');
  const parts = rest.split('/');
  let domain = DEFAULT_DOMAIN;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    domain = first;
    parts.shift();
    if (!validDomain(domain)) throw bad(ref, `invalid registry host "${domain}"`);
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && parts.length === 1) parts.unshift('library');
  for (const c of parts) {
    if (!COMPONENT.test(c)) throw bad(ref, `invalid repository component "${c}" (lowercase letters, digits and separators only)`);
  }
  const path = parts.join('/');
  if (domain.length + 1 + path.length > MAX_NAME) throw bad(ref, 'repository name too long');
  if (digest !== undefined) return { domain, path, digest };
  return { domain, path, tag: tag ?? 'latest' };
}

export const repository = (r: ImageReference): string => `${r.domain}/${r.path}`;

/** The canonical string: `domain/path:tag` or `domain/path@digest`. */
export function formatReference(r: ImageReference): string {
  return r.digest !== undefined ? `${repository(r)}@${r.digest}` : `${repository(r)}:${r.tag ?? 'latest'}`;
}

/** `true` when the string looks like an image id (or its `sha256:` form) rather than a name. */
export const isImageId = (s: string): boolean => IMAGE_ID.test(s);
