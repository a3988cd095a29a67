import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dialSpdy } from './spdy-client';
import { startHarness, type Harness } from './harness';
import { forwardConnection, httpOver } from './spdy-portforward';

/** Stands in for a server inside the pod: answers with the path and a per-server tag. */
function podServer(tag: string): Promise<http.Server> {
  const s = http.createServer((req, res) => res.end(`${tag}:${req.url}`));
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
}
const portOf = (s: http.Server): number => (s.address() as AddressInfo).port;

let h: Harness;
let web1: http.Server;
let web2: http.Server;
beforeAll(async () => {
  web1 = await podServer('one');
  web2 = await podServer('two');
});
afterAll(async () => {
  await Promise.all([web1, web2].map((s) => new Promise((r) => s.close(r))));
});
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function connect(url: string) {
  const { client, response } = await dialSpdy(url, { protocols: ['portforward.k8s.io'] });
  expect(response.headers['x-stream-protocol-version']).toEqual(['portforward.k8s.io']);
  return client!;
}

describe('SPDY port-forward', () => {
  it('relays an HTTP request to a server in the pod', async () => {
    const client = await connect(h.server.getPortForward({ podSandboxId: 'p1', ports: [portOf(web1)] }));
    const conn = await forwardConnection(client, portOf(web1));
    const resp = await httpOver(conn, '/hello');
    expect(resp).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(resp.endsWith('one:/hello')).toBe(true);
    expect(await conn.error.all()).toHaveLength(0);
    await client.close();
  });

  it('serves several ports and connections at once on one connection', async () => {
    const url = h.server.getPortForward({ podSandboxId: 'p1', ports: [] }); // crictl sends no ports
    const client = await connect(url);
    const jobs = Array.from({ length: 8 }, async (_, i) => {
      const web = i % 2 === 0 ? web1 : web2;
      const conn = await forwardConnection(client, portOf(web));
      return httpOver(conn, `/${i}`);
    });
    const out = await Promise.all(jobs);
    out.forEach((resp, i) => expect(resp.endsWith(`${i % 2 === 0 ? 'one' : 'two'}:/${i}`)).toBe(true));
    await client.close();
  });

  it('reports a refused connection on the error stream', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const deadPort = portOf(closed);
    await new Promise((r) => closed.close(r));
    const client = await connect(h.server.getPortForward({ podSandboxId: 'p1', ports: [] }));
    const conn = await forwardConnection(client, deadPort);
    const err = (await conn.error.all()).toString();
    expect(err).toContain(`error forwarding port ${deadPort} to pod p1`);
    expect(err).toContain('ECONNREFUSED');
    expect(await conn.data.ended).toBe('rst');
    // The connection stays usable for other ports.
    const ok = await forwardConnection(client, portOf(web1));
    expect((await httpOver(ok)).endsWith('one:/')).toBe(true);
    await client.close();
  });

  it('refuses ports outside the request and malformed stream headers', async () => {
    const client = await connect(h.server.getPortForward({ podSandboxId: 'p1', ports: [portOf(web1)] }));
    await expect(client.open({ streamtype: 'error', port: String(portOf(web2)), requestid: 'x' })).rejects.toThrow(/reset/);
    await expect(client.open({ streamtype: 'error', port: '0', requestid: 'y' })).rejects.toThrow(/reset/);
    await expect(client.open({ streamtype: 'bogus', port: String(portOf(web1)), requestid: 'z' })).rejects.toThrow(/reset/);
    await client.close();
  });

  it('times out a half-opened pair', async () => {
    await h.close();
    h = await startHarness({ streamTimeoutMs: 200 });
    const client = await connect(h.server.getPortForward({ podSandboxId: 'p1', ports: [] }));
    const error = await client.open({ streamtype: 'error', port: String(portOf(web1)), requestid: '0' });
    expect((await error.all()).toString()).toBe('timed out waiting for streams');
    await client.close();
  });

  it('refuses a protocol other than portforward.k8s.io', async () => {
    const url = h.server.getPortForward({ podSandboxId: 'p1', ports: [] });
    const { client, response } = await dialSpdy(url, { protocols: ['v4.channel.k8s.io'] });
    expect(client).toBeUndefined();
    expect(response.status).toBe(403);
  });
});
