import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { TlsSettings } from './hosts';

/**
 * How registry requests leave the node (issue 16): TLS per host (CA bundle,
 * client certificate, skip_verify) over the system CA store, and the
 * HTTP(S)_PROXY / NO_PROXY environment as Go's `httpproxy` reads it, HTTPS
 * through an HTTP CONNECT tunnel. One agent (and one TLS context) per TLS
 * settings, kept while the settings live, so connections are reused.
 */
export interface ProxyEnv {
  readonly httpProxy?: URL;
  readonly httpsProxy?: URL;
  readonly noProxy: readonly string[];
}

function proxyUrl(raw: string | undefined): URL | undefined {
  if (!raw) return undefined;
  const u = new URL(raw.includes('://') ? raw : `http://${raw}`);
  if (u.protocol !== 'http:') throw new Error(`proxy ${raw}: only http:// proxies are supported`);
  return u;
}

/** Reads `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` (upper case first, as Go). */
export function proxyEnv(env: NodeJS.ProcessEnv = process.env): ProxyEnv {
  const get = (name: string): string | undefined => env[name] || env[name.toLowerCase()] || undefined;
  return {
    ...(get('HTTP_PROXY') ? { httpProxy: proxyUrl(get('HTTP_PROXY')) } : {}),
    ...(get('HTTPS_PROXY') ? { httpsProxy: proxyUrl(get('HTTPS_PROXY')) } : {}),
    noProxy: (get('NO_PROXY') ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  };
}

function ipv4(s: string): number | undefined {
  const p = s.split('.').map(Number);
  return p.length === 4 && p.every((x) => Number.isInteger(x) && x >= 0 && x < 256) ? ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0 : undefined;
}

/** Go `httpproxy.useProxy`: never for localhost or loopback; NO_PROXY `*`, domains (and their subdomains), `.suffix`, IPs, v4 CIDRs, each with an optional port. */
export function bypassProxy(url: URL, noProxy: readonly string[]): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\./.test(host)) return true;
  for (const entry of noProxy) {
    if (entry === '*') return true;
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(entry);
    if (cidr) {
      const ip = ipv4(host);
      const net = ipv4(cidr[1]!);
      const bits = Number(cidr[2]);
      if (ip !== undefined && net !== undefined && bits <= 32) {
        const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
        if ((ip & mask) === (net & mask)) return true;
      }
      continue;
    }
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
    if (!m) continue;
    const name = m[1]!.replace(/^\[|\]$/g, '');
    if (m[2] && m[2] !== port) continue;
    if (isIP(name)) {
      if (name === host) return true;
    } else if (name.startsWith('.') || name.startsWith('*.')) {
      const suffix = name.replace(/^\*/, '');
      if (host.endsWith(suffix)) return true;
    } else if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** An https agent that opens each connection through an HTTP CONNECT tunnel. */
class TunnelAgent extends HttpsAgent {
  constructor(
    private readonly proxy: URL,
    opts: AgentOptions,
  ) {
    super(opts);
  }

  override createConnection(options: ConnectionOptions & { host?: string; port?: number }, cb: (err: Error | null, socket?: Duplex) => void): undefined {
    const target = `${options.host}:${options.port}`;
    const headers: Record<string, string> = { host: target };
    if (this.proxy.username) headers['proxy-authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(this.proxy.username)}:${decodeURIComponent(this.proxy.password)}`).toString('base64')}`;
    const req = httpRequest({ host: this.proxy.hostname, port: this.proxy.port || 80, method: 'CONNECT', path: target, headers });
    req.once('connect', (res: IncomingMessage, socket: Socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        cb(new Error(`proxy ${this.proxy.host} refused CONNECT ${target}: HTTP ${res.statusCode}`));
        return;
      }
      const tls = tlsConnect({ ...options, socket, servername: isIP(options.host ?? '') ? '' : options.host! });
      cb(null, tls);
    });
    req.once('error', (err) => cb(new Error(`failed to reach proxy ${this.proxy.host}: ${err.message}`)));
    req.end();
    return undefined;
  }
}

export interface Transport {
  /** The agent for an https request to `url` with `tls` (undefined: the system CAs). */
  agentFor(url: URL, tls: TlsSettings | undefined): HttpsAgent;
  /** The HTTP proxy for a plain-http request to `url`, if any. */
  httpProxyFor(url: URL): URL | undefined;
}

export function createTransport(systemCas: () => readonly string[] | undefined, env: ProxyEnv = proxyEnv()): Transport {
  const agents = new WeakMap<object, { direct?: HttpsAgent; tunnel?: HttpsAgent }>();
  const DEFAULT = {};
  let defaultContext: { cas: readonly string[] | undefined; ctx: SecureContext | undefined } | undefined;
  const contextOf = (tls: TlsSettings | undefined): SecureContext | undefined => {
    if (!tls) {
      const cas = systemCas();
      if (defaultContext === undefined || defaultContext.cas !== cas) defaultContext = { cas, ctx: cas ? createSecureContext({ ca: [...cas] }) : undefined };
      return defaultContext.ctx;
    }
    const ca = [...(systemCas() ?? []), ...(tls.ca ?? [])];
    return createSecureContext({ ...(ca.length ? { ca } : {}), ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}) });
  };
  return {
    agentFor(url, tls) {
      const key = tls ?? DEFAULT;
      let slot = agents.get(key);
      if (!slot) agents.set(key, (slot = {}));
      const viaProxy = env.httpsProxy !== undefined && !bypassProxy(url, env.noProxy);
      const which = viaProxy ? 'tunnel' : 'direct';
      let agent = slot[which];
      if (!agent) {
        const secureContext = contextOf(tls);
        const opts: AgentOptions = { keepAlive: true, ...(secureContext ? { secureContext } : {}), rejectUnauthorized: !(tls?.skipVerify ?? false) };
        agent = viaProxy ? new TunnelAgent(env.httpsProxy!, opts) : new HttpsAgent(opts);
        slot[which] = agent;
      }
      return agent;
    },
    httpProxyFor(url) {
      return env.httpProxy !== undefined && !bypassProxy(url, env.noProxy) ? env.httpProxy : undefined;
    },
  };
}
