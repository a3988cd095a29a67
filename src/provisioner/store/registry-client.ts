import type { Readable } from 'node:stream';
import type { Ctx } from '../../common/ctx';
import { CriError, findCriError } from '../../common/errors';
import type { AuthConfig } from '../types';
import { apiRoot, type Endpoint } from './endpoints';
import { MANIFEST_ACCEPT } from './media-types';
import { basicHeader, credentialsOf, parseChallenges, TokenCache, type Challenge } from './registry-auth';
import { discard, isOk, nodeHttp, readBody, type HttpClient, type HttpRequest, type HttpResponse } from './registry-http';

/**
 * An OCI distribution client for one endpoint and repository
 * (distribution `docs/spec/api.md`): `GET /v2/` probe, authenticated
 * manifest and blob requests.
 */
export interface RepoSession {
  readonly endpoint: Endpoint;
  readonly repo: string;
  readonly auth: AuthConfig | undefined;
}

const MAX_MANIFEST = 4 << 20;

export class RegistryClient {
  /** Challenge per endpoint from the `/v2/` probe; `null` means no auth needed. */
  #challenges = new Map<string, Challenge | null>();
  readonly tokens: TokenCache;

  constructor(private readonly http: HttpClient = nodeHttp) {
    this.tokens = new TokenCache(http);
  }

  async #send(url: string, init: Omit<HttpRequest, 'signal'>, ctx: Ctx, endpoint?: Endpoint): Promise<HttpResponse> {
    const extra = endpoint?.headers ? { headers: { ...endpoint.headers, ...init.headers } } : {};
    try {
      return await this.http(new URL(url), { ...init, ...extra, ...(endpoint?.tls ? { tls: endpoint.tls } : {}), signal: ctx.signal });
    } catch (err) {
      ctx.signal.throwIfAborted();
      throw new CriError('Unavailable', `failed to reach registry endpoint ${new URL(url).origin}`, { cause: err });
    }
  }

  /** `GET /v2/`: learns how the endpoint wants to be authenticated. */
  async probe(endpoint: Endpoint, ctx: Ctx): Promise<Challenge | null> {
    const known = this.#challenges.get(endpoint.base);
    if (known !== undefined) return known;
    const res = await this.#send(`${apiRoot(endpoint)}/`, {}, ctx, endpoint);
    discard(res);
    let ch: Challenge | null = null;
    if (res.status === 401) {
      const all = parseChallenges(res.header('www-authenticate'));
      ch = all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic') ?? null;
      if (!ch) throw new CriError('Unauthenticated', `failed to authenticate at ${endpoint.base}: unsupported challenge "${res.header('www-authenticate') ?? ''}"`);
    } else if (!isOk(res)) {
      throw new CriError('Unavailable', `failed to probe registry endpoint ${endpoint.base}: HTTP ${res.status}`);
    }
    this.#challenges.set(endpoint.base, ch);
    return ch;
  }

  async #authorization(s: RepoSession, ch: Challenge | null, ctx: Ctx): Promise<string | undefined> {
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      const creds = credentialsOf(s.auth);
      if (!creds) throw new CriError('Unauthenticated', `failed to authenticate at ${s.endpoint.base}: registry requires credentials`);
      return basicHeader(creds);
    }
    return `Bearer ${await this.tokens.token(ch, `repository:${s.repo}:pull`, s.auth, ctx)}`;
  }

  /** An authenticated GET; retries once with a fresh challenge when a cached token is refused. */
  async get(s: RepoSession, path: string, headers: Record<string, string>, ctx: Ctx): Promise<HttpResponse> {
    const url = `${apiRoot(s.endpoint)}/${s.repo}/${path}`;
    let ch = await this.probe(s.endpoint, ctx);
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.#authorization(s, ch, ctx);
      const res = await this.#send(url, { headers: { ...headers, ...(authorization ? { authorization } : {}) } }, ctx, s.endpoint);
      if (res.status !== 401) return res;
      discard(res);
      const fresh = parseChallenges(res.header('www-authenticate'));
      const next = fresh.find((c) => c.scheme === 'bearer') ?? fresh.find((c) => c.scheme === 'basic') ?? null;
      if (ch) this.tokens.invalidate(TokenCache.key(ch, `repository:${s.repo}:pull`, s.auth));
      if (attempt > 0 || !next || s.auth?.registryToken)
        throw new CriError('Unauthenticated', `failed to authenticate at ${s.endpoint.base} for ${s.repo}: ${authorization ? 'credentials rejected' : 'registry requires credentials'}`);
      ch = next;
      this.#challenges.set(s.endpoint.base, next);
    }
  }

  /** Fetches a manifest or index by tag or digest; body limited to 4 MiB. */
  async manifest(s: RepoSession, reference: string, ctx: Ctx): Promise<{ body: Buffer; mediaType: string }> {
    const res = await this.get(s, `manifests/${reference}`, { accept: MANIFEST_ACCEPT }, ctx);
    denied(res, s, `${s.repo}:${reference}`);
    if (res.status === 404) {
      discard(res);
      throw new CriError('NotFound', `failed to resolve ${s.repo}:${reference} at ${s.endpoint.base}: manifest unknown`);
    }
    if (!isOk(res)) {
      discard(res);
      throw new CriError('Unavailable', `failed to fetch manifest ${s.repo}:${reference} from ${s.endpoint.base}: HTTP ${res.status}`);
    }
    const length = Number(res.header('content-length') ?? '0');
    if (length > MAX_MANIFEST) {
      discard(res);
      throw new CriError('InvalidArgument', `failed to fetch manifest ${s.repo}:${reference}: ${length} bytes is too large`);
    }
    const body = await readBody(res, MAX_MANIFEST, `manifest ${s.repo}:${reference}`);
    return { body, mediaType: res.header('content-type') ?? '' };
  }

  /** Opens a blob as a stream; the caller verifies its digest. */
  async blob(s: RepoSession, digest: string, ctx: Ctx): Promise<Readable> {
    const res = await this.get(s, `blobs/${digest}`, {}, ctx);
    denied(res, s, `${s.repo}@${digest}`);
    if (res.status === 404) {
      discard(res);
      throw new CriError('NotFound', `failed to fetch blob ${digest} of ${s.repo} from ${s.endpoint.base}: blob unknown`);
    }
    if (!isOk(res)) {
      discard(res);
      throw new CriError('Unavailable', `failed to fetch blob ${digest} of ${s.repo} from ${s.endpoint.base}: HTTP ${res.status}`);
    }
    return res.body;
  }
}

/** A 403 means the credentials were accepted but grant no pull access. */
function denied(res: HttpResponse, s: RepoSession, what: string): void {
  if (res.status !== 403) return;
  discard(res);
  throw new CriError('PermissionDenied', `failed to pull ${what} from ${s.endpoint.base}: access denied (HTTP 403)`);
}

/** Whether a failure at a mirror should fall through to the next endpoint. */
export function fallsThrough(err: unknown): boolean {
  const code = findCriError(err)?.code;
  return code === 'Unavailable' || code === 'NotFound' || code === 'Unauthenticated' || code === 'PermissionDenied' || code === 'DeadlineExceeded';
}
