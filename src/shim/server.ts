import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Socket, type Server as NetServer } from 'node:net';
import { dirname, join } from 'node:path';
import type { ProtoGrpcType } from '../../cri/generated/api';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { CriError } from '../common/errors';
import { log } from '../common/log';
import { FilteredConnection } from './h2/connection';
import type { ImageImpl, RuntimeImpl } from './handlers';
import { serverStream, unary, unimplemented, type Gate, type StreamHandler, type UnaryHandler } from './wrap';

/** Finds `cri/api.proto` whether we run from `src/` (tests) or `dist/src/` (built). */
export function protoPath(): string {
  for (let dir = __dirname, i = 0; i < 6; dir = dirname(dir), i++) {
    const p = join(dir, 'cri', 'api.proto');
    if (existsSync(p)) return p;
  }
  throw new Error('failed to find cri/api.proto');
}

export const PROTO_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

export function loadCri(): ProtoGrpcType {
  return loadPackageDefinition(loadSync(protoPath(), PROTO_OPTIONS)) as unknown as ProtoGrpcType;
}

function bind(def: ServiceDefinition, impl: Record<string, unknown>, gate: Gate): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(def)) {
    const fn = impl[name] ?? unimplemented(name);
    out[name] = method.responseStream
      ? serverStream(name, gate, fn as StreamHandler<unknown, unknown>)
      : unary(name, gate, fn as UnaryHandler<unknown, unknown>);
  }
  return out;
}

/** True when something accepts connections on the unix socket at `path`. */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Prepares the socket path: refuses when a live daemon holds it, removes a
 * stale socket left by a killed one, and never deletes anything that is not a socket.
 */
async function claimSocket(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new CriError('FailedPrecondition', `failed to listen on ${path}: it exists and is not a socket`);
  if (await socketAlive(path)) throw new CriError('AlreadyExists', `failed to listen on ${path}: another daemon is serving it`);
  log.info({ socket: path }, 'removing stale socket');
  await unlink(path);
}

/**
 * Caps on one request's header block in the HTTP/2 filter. Node's HTTP/2
 * layer refuses header lists over 64 KiB on its own; these only bound what
 * the filter holds and decodes before the server sees the request.
 */
const MAX_HEADER_BLOCK = 1 << 20;
const MAX_HEADER_LIST = 1 << 20;

/**
 * The CRI gRPC server on the unix socket.
 *
 * We own the listening socket and hand each connection to grpc-js through a
 * connection injector, behind `FilteredConnection`: Go gRPC clients of
 * kubelet 1.26-1.29 and crictl <= 1.29 send the socket path as `:authority`,
 * which Node's HTTP/2 layer refuses before grpc-js sees the call
 * (`h2/authority.ts`).
 */
export interface CriServerOptions {
  /**
   * Bind grpc-js to the socket itself, without the filter (what the daemon
   * did before it had one): only for the benchmark that measures the
   * filter's cost (`MESOS_CRI_BENCH_UNFILTERED=1`). Go clients that send the
   * socket path as `:authority` fail against it.
   */
  readonly unfiltered?: boolean;
}

export class CriServer {
  readonly #server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  readonly #injector = this.#server.createConnectionInjector(ServerCredentials.createInsecure());
  readonly #connections = new Set<Socket>();
  readonly #unfiltered: boolean;
  #listener: NetServer | null = null;
  #socket = '';

  constructor(runtime: RuntimeImpl, image: ImageImpl, gate: Gate, opts: CriServerOptions = {}) {
    this.#unfiltered = opts.unfiltered ?? false;
    const cri = loadCri();
    this.#server.addService(cri.runtime.v1.RuntimeService.service, bind(cri.runtime.v1.RuntimeService.service, runtime, gate));
    this.#server.addService(cri.runtime.v1.ImageService.service, bind(cri.runtime.v1.ImageService.service, image, gate));
  }

  async listen(socket: string): Promise<void> {
    await claimSocket(socket);
    // The socket is created with the process umask; restrict it before anyone can use it.
    const oldMask = process.umask(0o117);
    try {
      if (this.#unfiltered) await this.#bindDirect(socket);
      else this.#listener = await this.#listenFiltered(socket);
    } finally {
      process.umask(oldMask);
    }
    await chmod(socket, 0o660);
    this.#socket = socket;
  }

  async #listenFiltered(socket: string): Promise<NetServer> {
    const listener = createServer((conn) => this.#accept(conn));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(socket, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    listener.on('error', (err) => log.error({ err, socket }, 'CRI socket failed'));
    return listener;
  }

  #bindDirect(socket: string): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      this.#server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
  }

  #accept(conn: Socket): void {
    this.#connections.add(conn);
    conn.once('close', () => this.#connections.delete(conn));
    const filtered = new FilteredConnection(conn, {
      maxBlockSize: MAX_HEADER_BLOCK,
      maxListSize: MAX_HEADER_LIST,
      onReject: (err) => log.warn({ err }, 'closing a CRI connection: its HTTP/2 framing cannot be passed on'),
    });
    this.#injector.injectConnection(filtered);
  }

  /** Stops accepting, lets in-flight calls finish (bounded), then closes. */
  async shutdown(graceMs = 10_000): Promise<void> {
    const listener = this.#listener;
    this.#listener = null;
    listener?.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    for (const conn of this.#connections) conn.destroy();
    if (this.#socket) await unlink(this.#socket).catch(() => undefined);
  }
}
