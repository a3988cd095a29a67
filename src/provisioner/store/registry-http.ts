import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { CriError } from '../../common/errors';
import type { TlsSettings } from './hosts';
import type { Transport } from './transport';

/**
 * The HTTP the registry client needs: GET/POST with headers, redirects
 * followed, the body as a Node stream. On `node:http`/`node:https` rather
 * than the global `fetch`: undici (its JS, web streams and the llhttp
 * WebAssembly parser, whose optimizing compile alone peaks at ~30 MiB of
 * malloc) stays resident after the first pull and added 10-14 MiB to the
 * daemon's idle RSS, for nothing we use.
 */
export interface HttpRequest {
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent with its `content-length`. */
  readonly body?: string;
  readonly signal: AbortSignal;
  /** The endpoint's TLS settings (issue 16), for this origin only: a redirect elsewhere uses the defaults. */
  readonly tls?: TlsSettings;
}

export interface HttpResponse {
  readonly status: number;
  /** A header by lower-case name; `undefined` when absent. */
  header(name: string): string | undefined;
  /** Must be consumed, or discarded with `discard`. Aborting the request's signal fails it. */
  readonly body: Readable;
}

export type HttpClient = (url: URL, req: HttpRequest) => Promise<HttpResponse>;

export const isOk = (res: HttpResponse): boolean => res.status >= 200 && res.status < 300;

/** Drops a body we do not read (the connection is closed, not reused). */
export function discard(res: HttpResponse): void {
  res.body.destroy();
}

/** The whole body; fails once it exceeds `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > limit) {
      discard(res);
      throw new CriError('InvalidArgument', `failed to fetch ${what}: larger than ${limit} bytes`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One request, no redirects; without a transport, `https:` URLs use Node's CA store, as `fetch` does. */
function send(url: URL, method: string, headers: OutgoingHttpHeaders, body: string | undefined, signal: AbortSignal, transport: Transport | undefined, tls: TlsSettings | undefined): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let req;
    if (url.protocol === 'https:') {
      req = httpsRequest(url, { method, headers, signal, ...(transport ? { agent: transport.agentFor(url, tls) } : {}) }, resolve);
    } else {
      const proxy = transport?.httpProxyFor(url);
      if (proxy) {
        // Plain HTTP through a proxy: the absolute URL as the request target (RFC 9112 3.2.2).
        const auth = proxy.username ? { 'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}` } : {};
        req = httpRequest({ host: proxy.hostname, port: proxy.port || 80, path: url.href, method, headers: { ...headers, ...auth, host: url.host }, signal }, resolve);
      } else {
        req = httpRequest(url, { method, headers, signal }, resolve);
      }
    }
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * `node:http(s)` as an `HttpClient`. Like `fetch` with `redirect: 'follow'`:
 * follows up to 10 redirects, turns a 303 (and a 301/302 after a POST) into
 * a GET without body, and drops the credentials when a redirect leaves the
 * origin (registries send blobs to a CDN with a signed URL).
 */
export const nodeHttp: HttpClient = (url, req) => createNodeHttp(undefined)(url, req);

/** `nodeHttp` over a transport: per-host TLS, the system CAs, proxies (issue 16). */
export const createNodeHttp = (transport: Transport | undefined): HttpClient => async (url, req) => {
  let tls = req.tls;
  let method: string = req.method ?? 'GET';
  let body = req.body;
  // No compressed transfer encodings: blobs are digested as sent, and `fetch` would undo them for us.
  let headers: Record<string, string | number> = { 'accept-encoding': 'identity' };
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
  for (let hops = 0; ; hops++) {
    if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
    const msg = await send(url, method, headers, body, req.signal, transport, tls);
    const status = msg.statusCode ?? 0;
    const location = msg.headers.location;
    if (!REDIRECTS.has(status) || location === undefined) {
      return { status, header: (name) => headerValue(msg, name), body: msg };
    }
    msg.destroy();
    if (hops === MAX_REDIRECTS) throw new Error(`failed to fetch ${url.origin}${url.pathname}: more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, url);
    if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      headers = without(headers, 'content-length', 'content-type');
    }
    if (next.origin !== url.origin) {
      headers = without(headers, 'authorization');
      tls = undefined;
    }
    url = next;
  }
};

function without<T>(headers: Record<string, T>, ...names: string[]): Record<string, T> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !names.includes(k)));
}

function headerValue(msg: IncomingMessage, name: string): string | undefined {
  const v = msg.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
