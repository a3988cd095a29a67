import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

/**
 * A small HTTP front for a test registry: a Bearer token server (the
 * registry itself only does htpasswd), a tampering proxy that corrupts blob
 * bodies, a stalling proxy, and a request log to count downloads.
 */
export interface ProxyOptions {
  readonly bearer?: { username: string; password: string };
  /** Flip one byte of every blob body larger than this many bytes (layers, not configs). */
  readonly tamperBlobsOver?: number;
  /** Send blob headers and a few bytes, then nothing until stopped. */
  readonly stallBlobs?: boolean;
  /** Send blob bodies larger than `over` bytes `chunk` bytes at a time, one chunk every `everyMs`. */
  readonly throttleBlobs?: { readonly over: number; readonly chunk: number; readonly everyMs: number };
}

export interface TestProxy {
  readonly host: string;
  readonly url: string;
  readonly requests: string[];
  readonly tokensIssued: number;
  stop(): Promise<void>;
}

export async function startProxy(target: string, opts: ProxyOptions = {}): Promise<TestProxy> {
  const tokens = new Set<string>();
  const requests: string[] = [];
  const hanging = new Set<ServerResponse>();
  let issued = 0;
  let self = '';
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    requests.push(`${req.method ?? 'GET'} ${url}`);
    if (url.startsWith('/token') && req.method === 'POST') {
      // OAuth2 refresh-token grant: the refresh token is the password.
      let body = '';
      for await (const c of req) body += (c as Buffer).toString();
      const form = new URLSearchParams(body);
      if (!opts.bearer || form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== opts.bearer.password) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      const token = randomBytes(12).toString('hex');
      tokens.add(token);
      issued++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, expires_in: 300 }));
      return;
    }
    if (url.startsWith('/token')) {
      const b = opts.bearer;
      const given = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
      if (!b || given !== `${b.username}:${b.password}`) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      const token = randomBytes(12).toString('hex');
      tokens.add(token);
      issued++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() }));
      return;
    }
    if (opts.bearer) {
      const tok = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (!tokens.has(tok)) {
        const repo = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(url)?.[1];
        const scope = repo ? `,scope="repository:${repo}:pull"` : '';
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${self}/token",service="test-registry"${scope}`, 'content-type': 'application/json' }).end('{}');
        return;
      }
    }
    const upstream = await fetch(`${target}${url}`, { method: req.method ?? 'GET', headers: req.headers.accept ? { accept: req.headers.accept } : {}, redirect: 'follow' });
    const headers: Record<string, string> = {};
    for (const k of ['content-type', 'docker-content-digest', 'www-authenticate']) {
      const v = upstream.headers.get(k);
      if (v) headers[k] = v;
    }
    const isBlob = url.includes('/blobs/sha256:');
    if (isBlob && opts.stallBlobs && upstream.ok) {
      const body = Buffer.from(await upstream.arrayBuffer());
      res.writeHead(upstream.status, { ...headers, 'content-length': String(body.length) });
      res.write(body.subarray(0, 16));
      hanging.add(res);
      return;
    }
    const slow = opts.throttleBlobs;
    if (isBlob && slow && upstream.ok && req.method !== 'HEAD') {
      const body = Buffer.from(await upstream.arrayBuffer());
      if (body.length > slow.over) {
        res.writeHead(upstream.status, { ...headers, 'content-length': String(body.length) });
        hanging.add(res);
        for (let off = 0; off < body.length && !res.destroyed; off += slow.chunk) {
          res.write(body.subarray(off, off + slow.chunk));
          await new Promise((r) => setTimeout(r, slow.everyMs));
        }
        hanging.delete(res);
        res.end();
        return;
      }
      res.writeHead(upstream.status, { ...headers, 'content-length': String(body.length) }).end(body);
      return;
    }
    const body = Buffer.from(await upstream.arrayBuffer());
    if (isBlob && opts.tamperBlobsOver !== undefined && body.length > opts.tamperBlobsOver) body[body.length - 1]! ^= 0xff;
    res.writeHead(upstream.status, { ...headers, 'content-length': String(body.length) }).end(req.method === 'HEAD' ? undefined : body);
  };
  const srv = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502).end(String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  self = `http://127.0.0.1:${port}`;
  return {
    host: `127.0.0.1:${port}`,
    url: self,
    requests,
    get tokensIssued() {
      return issued;
    },
    stop: async () => {
      for (const r of hanging) r.destroy();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}
