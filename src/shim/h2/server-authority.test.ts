import { credentials, Server, ServerCredentials, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeServiceClient } from '../../../cri/generated/runtime/v1/RuntimeService';
import { setLogSink } from '../../common/log';
import { CriServer, loadCri } from '../server';
import { Flag, FrameType } from './frames';
import { HpackDecoder } from './hpack-decoder';
import { clientOpening, FixtureEncoder, frame, grpcData, headersFrames, parseFrames } from './testing';

/**
 * The real gRPC server (grpc-js behind the filter, as the daemon runs it) on
 * a unix socket, called by clients that send every `:authority` form real
 * CRI clients send, and by a raw HTTP/2 client that sends none.
 */
const gate = { notReady: () => undefined };
let slowMs = 0;
const runtime = {
  Version: async () => {
    if (slowMs) await new Promise((r) => setTimeout(r, slowMs));
    return { version: '0.1.0', runtime_name: 'mesos-cri', runtime_version: 'test', runtime_api_version: 'v1' };
  },
};

function client(socket: string, authority?: string): RuntimeServiceClient {
  const cri = loadCri();
  return new cri.runtime.v1.RuntimeService(`unix:${socket}`, credentials.createInsecure(), authority === undefined ? {} : { 'grpc.default_authority': authority });
}

function version(c: RuntimeServiceClient): Promise<Record<string, string>> {
  return new Promise((resolve, reject) =>
    c.Version({ version: 'v1' }, { deadline: Date.now() + 10_000 }, (err: ServiceError | null, res?: unknown) => (err ? reject(err) : resolve(res as Record<string, string>))),
  );
}

/** A raw HTTP/2 connection: writes given bytes, collects everything the server sends until it closes or `until` holds. */
function rawExchange(socket: string, bytes: Buffer, until: (got: Buffer) => boolean): Promise<{ got: Buffer; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(socket);
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer; got ${got.toString('hex')}`));
    }, 10_000);
    s.on('connect', () => s.write(bytes));
    s.on('data', (b: Buffer) => {
      got = Buffer.concat([got, b]);
      if (until(got)) {
        clearTimeout(timer);
        s.destroy();
        resolve({ got, closed: false });
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ got, closed: true });
    });
  });
}

/** The server's header blocks (its encoder uses its dynamic table and Huffman: our decoder reads them too). */
function responseBlocks(got: Buffer): string[][][] {
  const d = new HpackDecoder({ maxListSize: 1 << 20 });
  return parseFrames(got)
    .filter((f) => f.type === FrameType.HEADERS)
    .map((f) => d.decode(f.payload).map((h) => [h.name.toString(), h.value.toString()]));
}

const hasTrailers = (got: Buffer): boolean => parseFrames(got).some((f) => f.type === FrameType.HEADERS && f.flags & Flag.END_STREAM);

describe('CRI server behind the HTTP/2 filter', () => {
  let dir: string;
  let socket: string;
  let server: CriServer;
  const logs: string[] = [];

  beforeAll(async () => {
    setLogSink((l) => logs.push(l));
    dir = mkdtempSync(join(tmpdir(), 'mcri-h2-'));
    socket = join(dir, 'run', 'mesos-cri.sock');
    server = new CriServer(runtime, {}, gate);
    await server.listen(socket);
  });
  afterAll(async () => {
    await server?.shutdown(1000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the socket at mode 0660', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o660);
  });

  it('answers grpc-js clients sending every authority form', async () => {
    for (const authority of [socket, encodeURIComponent(socket), 'localhost', `unix:${socket}`, `unix://${socket}`, undefined]) {
      const c = client(socket, authority);
      try {
        expect((await version(c)).runtime_name, String(authority)).toBe('mesos-cri');
      } finally {
        c.close();
      }
    }
  });

  it('is needed: grpc-js bound directly resets a request whose authority is the socket path', async () => {
    const bare = new Server();
    const cri = loadCri();
    bare.addService(cri.runtime.v1.RuntimeService.service, { Version: (_c: unknown, done: (e: null, r: object) => void) => done(null, {}) });
    const path = join(dir, 'bare.sock');
    await new Promise<void>((resolve, reject) => bare.bindAsync(`unix:${path}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
    const c = client(path, path);
    try {
      const err = (await version(c).catch((e: unknown) => e)) as ServiceError;
      // RST_STREAM code 1 is PROTOCOL_ERROR (RFC 9113 section 7).
      expect(err.details).toContain('RST_STREAM with code 1');
    } finally {
      c.close();
      bare.forceShutdown();
    }
  });

  it('answers a raw HTTP/2 request with no :authority at all', async () => {
    const enc = new FixtureEncoder();
    const block = enc.encode([
      { name: ':method', value: 'POST' },
      { name: ':scheme', value: 'http' },
      { name: ':path', value: '/runtime.v1.RuntimeService/Version' },
      { name: 'content-type', value: 'application/grpc' },
      { name: 'te', value: 'trailers' },
    ]);
    const bytes = Buffer.concat([clientOpening(), frame(FrameType.SETTINGS, Flag.ACK, 0), headersFrames(1, block, { pad: 3 }), grpcData(1, Buffer.from('0a027631', 'hex'))]);
    const { got } = await rawExchange(socket, bytes, hasTrailers);
    const blocks = responseBlocks(got);
    expect(blocks[0]).toContainEqual([':status', '200']);
    expect(blocks[1]).toContainEqual(['grpc-status', '0']);
    const data = parseFrames(got).find((f) => f.type === FrameType.DATA && f.stream === 1);
    expect(data?.payload.toString('latin1')).toContain('mesos-cri');
  });

  it('closes only the connection whose framing is bad, and keeps serving', async () => {
    const c = client(socket, socket);
    try {
      await version(c);
      const bad = Buffer.concat([clientOpening(), frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]))]);
      const { closed } = await rawExchange(socket, bad, () => false);
      expect(closed).toBe(true);
      expect(logs.some((l) => l.includes('closing a CRI connection'))).toBe(true);
      // The same grpc-js channel (its connection untouched) and a new one both still work.
      expect((await version(c)).runtime_name).toBe('mesos-cri');
      const c2 = client(socket, socket);
      expect((await version(c2)).runtime_name).toBe('mesos-cri');
      c2.close();
    } finally {
      c.close();
    }
  });

  it('finishes an in-flight call on shutdown and then stops accepting', async () => {
    const path = join(dir, 'drain.sock');
    const s = new CriServer(runtime, {}, gate);
    await s.listen(path);
    const c = client(path, path);
    try {
      await version(c);
      slowMs = 300;
      const inflight = version(c);
      await new Promise((r) => setTimeout(r, 50));
      const done = s.shutdown(5000);
      expect((await inflight).runtime_name).toBe('mesos-cri');
      await done;
      const refused = await new Promise<string>((resolve) => {
        const sock = connect(path);
        sock.on('connect', () => resolve('connected'));
        sock.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(refused).toBe('ENOENT');
    } finally {
      slowMs = 0;
      c.close();
    }
  });
});
