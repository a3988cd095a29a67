import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeHttp, readBody } from './registry-http';

const servers: Server[] = [];

async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handle);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const signal = (): AbortSignal => new AbortController().signal;

describe('nodeHttp', () => {
  it('follows redirects and drops the credentials when one leaves the origin', async () => {
    const seen: string[] = [];
    const cdn = await serve((req, res) => {
      seen.push(`cdn ${req.url} ${req.headers.authorization ?? '-'}`);
      res.end('blob');
    });
    const registry = await serve((req, res) => {
      seen.push(`registry ${req.url} ${req.headers.authorization ?? '-'}`);
      if (req.url === '/a') res.writeHead(307, { location: '/b' }).end();
      else res.writeHead(302, { location: `${cdn}/signed?x=1` }).end();
    });
    const res = await nodeHttp(new URL(`${registry}/a`), { headers: { Authorization: 'Bearer t' }, signal: signal() });
    expect(res.status).toBe(200);
    expect((await readBody(res, 100, 'blob')).toString()).toBe('blob');
    expect(seen).toEqual(['registry /a Bearer t', 'registry /b Bearer t', 'cdn /signed?x=1 -']);
  });

  it('turns a POST into a GET on 303 and sends a form with its length', async () => {
    const seen: string[] = [];
    const base = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${req.headers['content-length'] ?? '-'} ${body}`);
        if (req.url === '/token') res.writeHead(303, { location: '/done' }).end();
        else res.writeHead(200, { 'www-authenticate': 'Bearer realm="x"' }).end('{}');
      });
    });
    const res = await nodeHttp(new URL(`${base}/token`), { method: 'POST', body: 'a=1&b=2', signal: signal() });
    expect(res.header('www-authenticate')).toBe('Bearer realm="x"');
    expect(res.header('x-missing')).toBeUndefined();
    await readBody(res, 100, 'token');
    expect(seen).toEqual(['POST /token 7 a=1&b=2', 'GET /done - ']);
  });

  it('fails a body past its limit, and a body whose request is aborted', async () => {
    const base = await serve((req, res) => {
      if (req.url === '/big') res.end(Buffer.alloc(1000));
      else res.write('partial'); // and never ends
    });
    const big = await nodeHttp(new URL(`${base}/big`), { signal: signal() });
    await expect(readBody(big, 10, 'manifest x')).rejects.toMatchObject({ code: 'InvalidArgument' });

    const abort = new AbortController();
    const stalled = await nodeHttp(new URL(`${base}/stall`), { signal: abort.signal });
    const reading = readBody(stalled, 100, 'blob');
    setTimeout(() => abort.abort(new Error('stalled')), 50);
    await expect(reading).rejects.toThrow();

    // Nobody reads this one yet: its error must not be uncaught.
    const unread = new AbortController();
    await nodeHttp(new URL(`${base}/stall`), { signal: unread.signal });
    unread.abort(new Error('gone'));
    await new Promise((r) => setTimeout(r, 50));
  });
});
