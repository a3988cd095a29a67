import { CriError } from '../../common/errors';
import type { Ctx } from '../../common/ctx';
import type { AuthConfig } from '../types';
import { discard, isOk, readBody, type HttpClient, type HttpResponse } from './registry-http';

/**
 * Registry authentication (distribution `docs/spec/auth/token.md`): parse
 * `WWW-Authenticate` challenges, answer `Basic` with the credentials, and run
 * the `Bearer` token flow (anonymous, basic, OAuth2 refresh token or a given
 * registry token), caching tokens until they expire.
 */
export interface Challenge {
  readonly scheme: string; // lower case: 'basic' | 'bearer'
  readonly params: Readonly<Record<string, string>>;
}

/** Parses `Bearer realm="…",service="…", Basic realm="…"` (RFC 7235: quoted or token values). */
export function parseChallenges(header: string | null | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  // Either `key=value` (value quoted or a token) or a bare token that starts a new challenge.
  const re = /\s*,?\s*(?:([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))|([\w-]+))/y;
  let cur: { scheme: string; params: Record<string, string> } | undefined;
  let m: RegExpExecArray | null;
  while (re.lastIndex < header.length && (m = re.exec(header)) !== null && m[0] !== '') {
    if (m[4] !== undefined) {
      cur = { scheme: m[4].toLowerCase(), params: {} };
      out.push(cur);
    } else if (cur && m[1] !== undefined) {
      cur.params[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
    }
  }
  return out;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Username/password from CRI `AuthConfig` (`auth` is base64 `user:pass`). */
export function credentialsOf(auth: AuthConfig | undefined): Credentials | undefined {
  if (!auth) return undefined;
  if (auth.username) return { username: auth.username, password: auth.password ?? '' };
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw new CriError('InvalidArgument', 'failed to decode auth: expected base64 of "user:password"');
    return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  return undefined;
}

export const basicHeader = (c: Credentials): string => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

const MAX_TOKEN_RESPONSE = 1 << 20;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

export class TokenCache {
  #tokens = new Map<string, CachedToken>();

  constructor(
    private readonly http: HttpClient,
    private readonly now: () => number = Date.now,
  ) {}

  invalidate(key: string): void {
    this.#tokens.delete(key);
  }

  static key(ch: Challenge, scope: string, auth: AuthConfig | undefined): string {
    const who = auth ? JSON.stringify([auth.username, auth.password, auth.auth, auth.identityToken]) : '';
    return JSON.stringify([ch.params.realm, ch.params.service, scope, who]);
  }

  /** A bearer token for `scope` under challenge `ch`. */
  async token(ch: Challenge, scope: string, auth: AuthConfig | undefined, ctx: Ctx): Promise<string> {
    if (auth?.registryToken) return auth.registryToken;
    const key = TokenCache.key(ch, scope, auth);
    const hit = this.#tokens.get(key);
    if (hit && hit.expiresAt > this.now()) return hit.token;
    const realm = ch.params.realm;
    if (!realm) throw new CriError('Unauthenticated', 'failed to authenticate: bearer challenge without realm');
    let url: URL;
    try {
      url = new URL(realm);
    } catch (err) {
      throw new CriError('Unauthenticated', `failed to authenticate: bad token realm "${realm}"`, { cause: err });
    }
    const service = ch.params.service;
    let res: HttpResponse;
    try {
      if (auth?.identityToken) {
        // OAuth2 refresh-token grant (docker `auth.go` `fetchTokenWithOAuth`).
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: auth.identityToken, client_id: 'mesos-cri', scope });
        if (service) form.set('service', service);
        res = await this.http(url, { method: 'POST', body: form.toString(), signal: ctx.signal, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      } else {
        if (service) url.searchParams.set('service', service);
        url.searchParams.set('scope', scope);
        const creds = credentialsOf(auth);
        res = await this.http(url, { signal: ctx.signal, headers: creds ? { authorization: basicHeader(creds) } : {} });
      }
    } catch (err) {
      ctx.signal.throwIfAborted();
      throw new CriError('Unavailable', `failed to reach token server ${url.origin}`, { cause: err });
    }
    if (res.status === 401 || res.status === 403) {
      discard(res);
      throw new CriError('Unauthenticated', `failed to authenticate at ${url.origin}${url.pathname}: credentials rejected (HTTP ${res.status})`);
    }
    if (!isOk(res)) {
      discard(res);
      throw new CriError('Unavailable', `failed to fetch token from ${url.origin}${url.pathname}: HTTP ${res.status}`);
    }
    const body = JSON.parse((await readBody(res, MAX_TOKEN_RESPONSE, `token from ${url.origin}${url.pathname}`)).toString()) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
      issued_at?: string;
    };
    const token = body.token ?? body.access_token;
    if (!token) throw new CriError('Unauthenticated', `failed to authenticate at ${url.origin}: no token in response`);
    const issued = body.issued_at ? Date.parse(body.issued_at) : NaN;
    const start = Number.isFinite(issued) ? Math.min(issued, this.now()) : this.now();
    // The spec's minimum lifetime is 60 s; keep a margin so a token never expires mid-request.
    const lifetime = Math.max(body.expires_in ?? 60, 60) * 1000;
    this.#tokens.set(key, { token, expiresAt: start + lifetime - 10_000 });
    return token;
  }
}
