import { credentials, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import type { ImageServiceClient } from '../../cri/generated/runtime/v1/ImageService';
import type { RuntimeServiceClient } from '../../cri/generated/runtime/v1/RuntimeService';
import { loadCri } from '../../src/shim/server';

/**
 * A CRI client for tests, generated from `cri/api.proto` (not the server's
 * handler code). `call` promisifies unary RPCs; `stream` collects a server stream.
 */
type Fn = (req: object, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res: unknown) => void) => unknown;

export class CriClient<C extends Client> {
  constructor(readonly raw: C) {}

  call<R = Record<string, unknown>>(rpc: string, req: object = {}, timeoutMs = 60_000): Promise<R> {
    const fn = (this.raw as unknown as Record<string, Fn>)[rpc];
    if (!fn) throw new Error(`no rpc ${rpc}`);
    return new Promise((resolve, reject) =>
      fn.call(this.raw, req, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) =>
        err ? reject(err) : resolve(res as R),
      ),
    );
  }

  /** Collects every message of a server-streaming RPC until EOF. */
  stream<R = Record<string, unknown>>(rpc: string, req: object = {}, timeoutMs = 60_000): Promise<R[]> {
    const fn = (this.raw as unknown as Record<string, (req: object, md: Metadata, opts: { deadline: Date }) => NodeJS.EventEmitter>)[rpc];
    if (!fn) throw new Error(`no rpc ${rpc}`);
    return new Promise((resolve, reject) => {
      const out: R[] = [];
      const call = fn.call(this.raw, req, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) });
      call.on('data', (m: R) => out.push(m));
      call.on('error', reject);
      call.on('end', () => resolve(out));
    });
  }

  close(): void {
    this.raw.close();
  }
}

/** `authority`: the `:authority` the client sends (grpc-js sends `localhost` on a unix socket by default). */
export function connectCri(socket: string, opts: { authority?: string } = {}): { runtime: CriClient<RuntimeServiceClient>; image: CriClient<ImageServiceClient> } {
  const cri = loadCri();
  const addr = `unix:${socket}`;
  const options = opts.authority === undefined ? {} : { 'grpc.default_authority': opts.authority };
  return {
    runtime: new CriClient(new cri.runtime.v1.RuntimeService(addr, credentials.createInsecure(), options)),
    image: new CriClient(new cri.runtime.v1.ImageService(addr, credentials.createInsecure(), options)),
  };
}

/** The gRPC status code of a rejected call (or -1). */
export const codeOf = (err: unknown): number => ((err as ServiceError | undefined)?.code ?? -1);
