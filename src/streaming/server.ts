import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { systemClock, type Clock } from '../common/clock';
import { CriError } from '../common/errors';
import { log } from '../common/log';
import { writeHttpError } from './http-reply';
import { PORT_FORWARD_SPDY, PORT_FORWARD_TUNNEL, WS_PORT_FORWARD, WS_REMOTE_COMMAND, describeVersion, headerValues, negotiate } from './protocols';
import { RequestCache, type StreamRequest } from './request-cache';
import type { StreamRuntime } from './runtime';
import { parsePort, portForwardStreamHandler } from './spdy/portforward';
import { serveSpdyCommand } from './spdy/remotecommand';
import { SpdySession } from './spdy/session';
import { upgradeToSpdy } from './spdy/upgrade';
import { serveWsPortForward } from './ws/portforward';
import { serveWsCommand } from './ws/remotecommand';

export interface StreamingServerOptions {
  /** Listen address; default `127.0.0.1`, as containerd. */
  readonly address: string;
  /** Listen port; 0 picks a free one (the URLs carry the real port). */
  readonly port: number;
  /** PEM text or paths to PEM files; serves https/wss when set. */
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly runtime: StreamRuntime;
  readonly clock?: Clock;
  /** Token lifetime; default 1 minute. */
  readonly tokenTtlMs?: number;
  /** How long a client gets to open its SPDY streams; default 30s. */
  readonly streamTimeoutMs?: number;
  /** Upgraded connections with no traffic for this long are dropped; default 4h. */
  readonly idleTimeoutMs?: number;
  /** Connections open at once; more are closed as they come. Default MAX_CONNECTIONS. */
  readonly maxConnections?: number;
}

/**
 * Anyone who can reach the port may connect without a token, so what a
 * connection can hold is bounded: this many at once, 10 s to send request
 * headers, frames of at most 1 MiB, header blocks inflated to at most 1 MiB,
 * 64 streams per SPDY connection.
 */
export const MAX_CONNECTIONS = 1024;
const HEADERS_TIMEOUT_MS = 10_000;

type Kind = StreamRequest['kind'];
const KINDS: readonly string[] = ['exec', 'attach', 'portforward'];

/**
 * The CRI streaming server (kubelet `cri/streaming/server.go`): Exec, Attach
 * and PortForward hand out a single-use URL here, and the client then
 * upgrades a request on it to SPDY/3.1 or WebSocket. The cached CRI request,
 * not the client, decides what runs and which streams are used.
 */
export class StreamingServer {
  readonly #opts: StreamingServerOptions;
  readonly #cache: RequestCache;
  readonly #server: http.Server;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (_p, req) => this.#chosen.get(req) ?? false });
  readonly #chosen = new WeakMap<http.IncomingMessage, string>();
  readonly #sockets = new Set<Duplex>();
  readonly #stopping = new AbortController();
  #baseUrl: string | undefined;

  constructor(opts: StreamingServerOptions) {
    this.#opts = opts;
    this.#cache = new RequestCache(opts.clock ?? systemClock, opts.tokenTtlMs);
    this.#server = opts.tls
      ? https.createServer({ cert: pem(opts.tls.cert), key: pem(opts.tls.key) })
      : http.createServer();
    this.#wss.on('headers', (headers, req) => {
      if (this.#chosen.get(req) === PORT_FORWARD_TUNNEL) headers.push(`Sec-WebSocket-Protocol: ${PORT_FORWARD_TUNNEL}`);
    });
    this.#server.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;
    this.#server.headersTimeout = HEADERS_TIMEOUT_MS;
    this.#server.requestTimeout = HEADERS_TIMEOUT_MS * 3;
    this.#server.maxHeadersCount = 100;
    this.#server.on('request', (req, res) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    this.#server.on('connection', (socket: Socket) => {
      socket.setNoDelay(true);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('secureConnection', (socket: Socket) => {
      socket.setNoDelay(true);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port, this.#opts.address, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const addr = this.#server.address() as AddressInfo;
    const host = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
    this.#baseUrl = `${this.#opts.tls ? 'https' : 'http'}://${host}:${addr.port}`;
    log.info({ url: this.#baseUrl }, 'streaming server listening');
    if (!this.#opts.tls && !isLoopback(addr.address)) {
      log.warn({ url: this.#baseUrl }, 'the streaming server listens beyond loopback without TLS: its single-use URLs and every stream cross the network in the clear (set streaming TLS, or bind 127.0.0.1 as containerd does)');
    }
  }

  /** Stops listening and drops every live session; their runtimes see `ctx.signal` abort. */
  async stop(): Promise<void> {
    this.#stopping.abort(new Error('streaming server stopped'));
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#server.closeAllConnections();
    if (this.#server.listening) await closed;
  }

  /** The base URL (scheme, host, port) once started. */
  get url(): string {
    if (this.#baseUrl === undefined) throw new CriError('Unavailable', 'failed to serve streams: streaming server not started');
    return this.#baseUrl;
  }

  getExec(req: { containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): string {
    return this.#issue({ kind: 'exec', containerId: req.containerId, cmd: [...req.cmd], tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr && !req.tty });
  }

  getAttach(req: { containerId: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): string {
    return this.#issue({ kind: 'attach', containerId: req.containerId, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr && !req.tty });
  }

  getPortForward(req: { podSandboxId: string; ports: number[] }): string {
    for (const p of req.ports) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new CriError('InvalidArgument', `failed to forward port ${p}: port out of range`);
    }
    return this.#issue({ kind: 'portforward', podSandboxId: req.podSandboxId, ports: [...req.ports] });
  }

  #issue(request: StreamRequest): string {
    const base = this.url;
    return `${base}/${request.kind}/${this.#cache.insert(request)}`;
  }

  /** Parses `/<kind>/<token>` and burns the token; `undefined` means 404. */
  #lookup(req: http.IncomingMessage): { request: StreamRequest; query: URLSearchParams } | undefined {
    if (req.method !== 'GET' && req.method !== 'POST') return undefined;
    const url = new URL(req.url ?? '/', 'http://streaming.invalid');
    const parts = url.pathname.split('/');
    if (parts.length !== 3 || parts[0] !== '' || !KINDS.includes(parts[1]!)) return undefined;
    const request = this.#cache.consume(parts[2]!);
    // A token used on the wrong route is burnt all the same.
    if (request === undefined || request.kind !== (parts[1] as Kind)) return undefined;
    return { request, query: url.searchParams };
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const found = this.#lookup(req);
    const [status, body] = found ? [400, 'unable to upgrade: missing upgrade headers in request\n'] : [404, '404 page not found\n'];
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end(body);
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => log.debug({ err }, 'streaming connection error'));
    if (this.#stopping.signal.aborted) {
      socket.destroy();
      return;
    }
    const found = this.#lookup(req);
    if (!found) {
      writeHttpError(socket, 404, '404 page not found');
      return;
    }
    const idle = this.#opts.idleTimeoutMs ?? 4 * 3600_000;
    if ('setTimeout' in socket && typeof socket.setTimeout === 'function') {
      (socket as Socket).setTimeout(idle, () => socket.destroy());
    }
    const { request, query } = found;
    const run = isWebSocket(req)
      ? this.#serveWebSocket(req, socket, head, request, query)
      : this.#serveSpdy(req, socket, head, request);
    run.catch((err: unknown) => {
      log.warn({ err, kind: request.kind }, 'streaming session failed');
      socket.destroy();
    });
  }

  async #serveSpdy(req: http.IncomingMessage, socket: Duplex, head: Buffer, request: StreamRequest): Promise<void> {
    const signal = this.#stopping.signal;
    const streamTimeoutMs = this.#opts.streamTimeoutMs ?? 30_000;
    if (request.kind !== 'portforward') {
      await serveSpdyCommand(req, socket, head, { runtime: this.#opts.runtime, request, signal, streamTimeoutMs });
      return;
    }
    if (upgradeToSpdy(req, socket, [PORT_FORWARD_SPDY]) === undefined) return;
    this.#servePortForwardSession(socket, head, request, streamTimeoutMs);
  }

  #servePortForwardSession(transport: Duplex, head: Buffer | undefined, request: StreamRequest & { kind: 'portforward' }, streamTimeoutMs: number): void {
    const gone = new AbortController();
    const signal = AbortSignal.any([gone.signal, this.#stopping.signal]);
    const session = new SpdySession(transport, {
      head,
      onStream: portForwardStreamHandler({ runtime: this.#opts.runtime, request, streamTimeoutMs, signal }),
    });
    const onStop = (): void => session.destroy();
    this.#stopping.signal.addEventListener('abort', onStop, { once: true });
    session.signal.addEventListener('abort', () => {
      gone.abort();
      this.#stopping.signal.removeEventListener('abort', onStop);
    });
  }

  async #serveWebSocket(req: http.IncomingMessage, socket: Duplex, head: Buffer, request: StreamRequest, query: URLSearchParams): Promise<void> {
    const offered = headerValues(req, 'sec-websocket-protocol');
    const supported = request.kind === 'portforward' ? WS_PORT_FORWARD : WS_REMOTE_COMMAND;
    const chosen = offered.length === 0 ? '' : negotiate(offered, supported);
    if (chosen === undefined) {
      writeHttpError(socket, 403, `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}`);
      return;
    }
    let ports: readonly number[] = [];
    if (request.kind === 'portforward' && chosen !== PORT_FORWARD_TUNNEL) {
      ports = request.ports.length > 0 ? request.ports : (queryPorts(query) ?? []);
      if (ports.length === 0) {
        writeHttpError(socket, 400, 'unable to upgrade: invalid or missing port');
        return;
      }
    }
    // `ws` validates offered subprotocols as RFC 6455 tokens, which rejects the
    // tunnelling protocol's '/'; it only needs to see the chosen one, and the
    // tunnel's is echoed from the 'headers' hook instead.
    if (chosen === '' || chosen === PORT_FORWARD_TUNNEL) delete req.headers['sec-websocket-protocol'];
    else req.headers['sec-websocket-protocol'] = chosen;
    this.#chosen.set(req, chosen);
    const ws = await new Promise<WebSocket>((resolve) => this.#wss.handleUpgrade(req, socket, head, resolve));
    const version = describeVersion(chosen);
    const signal = this.#stopping.signal;
    const runtime = this.#opts.runtime;
    if (request.kind !== 'portforward') {
      await serveWsCommand(ws, { runtime, request, version, signal });
    } else if (chosen === PORT_FORWARD_TUNNEL) {
      // crictl/kubectl tunnel a whole SPDY connection through binary messages.
      const stream = createWebSocketStream(ws);
      stream.on('error', (err) => log.debug({ err }, 'port-forward tunnel error'));
      this.#servePortForwardSession(stream, undefined, request, this.#opts.streamTimeoutMs ?? 30_000);
    } else {
      await serveWsPortForward(ws, { runtime, podSandboxId: request.podSandboxId, ports, version, signal });
    }
  }
}

export function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

function isWebSocket(req: http.IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket' && (req.headers.connection ?? '').toLowerCase().includes('upgrade');
}

/**
 * Ports from `?port=` (the kubelet's own endpoint) or `?ports=` (what
 * `@kubernetes/client-node` sends), repeated or comma-separated; `undefined`
 * if any is invalid. Only used when the CRI request named no ports.
 */
function queryPorts(query: URLSearchParams): number[] | undefined {
  const out: number[] = [];
  for (const raw of [...query.getAll('port'), ...query.getAll('ports')]) {
    for (const v of raw.split(',')) {
      const p = parsePort(v.trim());
      if (p === undefined) return undefined;
      out.push(p);
    }
  }
  return out;
}

function pem(value: string): string {
  return value.trimStart().startsWith('-----BEGIN') ? value : readFileSync(value, 'utf8');
}
