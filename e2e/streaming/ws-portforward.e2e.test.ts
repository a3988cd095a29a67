import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness';
import { handlerFor, kube } from './k8s-client';
import { rawWebSocket } from './raw-ws';
import { SpdyClient } from './spdy-client';
import { forwardConnection, httpOver } from './spdy-portforward';
import { until } from './spdy-remotecommand';
import { closed, collect } from './ws-helpers';

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

/**
 * client-node's port-forward over its own `WebSocketHandler` (its
 * `PortForward` class cannot load on Node 20, see k8s-client.ts); the
 * message handling below is the same as `PortForward.portForward`.
 */
async function k8sPortForward(url: string, port: number, input: PassThrough): Promise<{ ws: WebSocket; out: () => string; err: () => string }> {
  const { WebSocketHandler } = await kube();
  const handler = await handlerFor(url);
  const output = new PassThrough();
  const error = new PassThrough();
  const needsPort = [true, true];
  const conn = await handler.connect(`/api/v1/namespaces/ns/pods/pod/portforward?ports=${port}`, null, (stream, buff) => {
    if (stream >= 2) return true;
    if (needsPort[stream]) {
      buff = buff.subarray(2);
      needsPort[stream] = false;
    }
    (stream % 2 === 1 ? error : output).write(buff);
    return true;
  });
  WebSocketHandler.handleStandardInput(conn, input, 0);
  const ws = conn as unknown as WebSocket;
  return { ws, out: collect(output), err: collect(error) };
}

describe('WebSocket port-forward', () => {
  it('relays an HTTP request through client-node (v4.channel.k8s.io)', async () => {
    const input = new PassThrough();
    const pf = await k8sPortForward(h.server.getPortForward({ podSandboxId: 'p1', ports: [portOf(web1)] }), portOf(web1), input);
    expect(pf.ws.protocol).toBe('v4.channel.k8s.io');
    input.write('GET /via-ws HTTP/1.0\r\n\r\n');
    expect(await closed(pf.ws)).toBe(1000);
    expect(pf.out()).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(pf.out().endsWith('one:/via-ws')).toBe(true);
    expect(pf.err()).toBe('');
  });

  it('takes the ports from the query when the CRI request has none', async () => {
    const input = new PassThrough();
    const pf = await k8sPortForward(h.server.getPortForward({ podSandboxId: 'p1', ports: [] }), portOf(web2), input);
    input.write('GET /q HTTP/1.0\r\n\r\n');
    await closed(pf.ws);
    expect(pf.out().endsWith('two:/q')).toBe(true);
  });

  it('forwards several ports on one socket, each channel opening with its port', async () => {
    const ports = [portOf(web1), portOf(web2)];
    const ws = new WebSocket(h.server.getPortForward({ podSandboxId: 'p1', ports }).replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
    const byChannel = new Map<number, Buffer[]>();
    ws.on('message', (d: Buffer) => byChannel.set(d[0]!, [...(byChannel.get(d[0]!) ?? []), d.subarray(1)]));
    await new Promise((r) => ws.once('open', r));
    await until(() => byChannel.size === 4, 'port prefixes on all channels');
    for (const [i, p] of ports.entries()) {
      expect(byChannel.get(2 * i)![0]!.readUInt16LE(0)).toBe(p);
      expect(byChannel.get(2 * i + 1)![0]!.readUInt16LE(0)).toBe(p);
    }
    ws.send(Buffer.concat([Buffer.of(0), Buffer.from('GET /a HTTP/1.0\r\n\r\n')]));
    ws.send(Buffer.concat([Buffer.of(2), Buffer.from('GET /b HTTP/1.0\r\n\r\n')]));
    await closed(ws);
    const text = (ch: number): string => Buffer.concat(byChannel.get(ch)!.slice(1)).toString();
    expect(text(0).endsWith('one:/a')).toBe(true);
    expect(text(2).endsWith('two:/b')).toBe(true);
  });

  it('reports a refused connection on the error channel', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const port = portOf(dead);
    await new Promise((r) => dead.close(r));
    const pf = await k8sPortForward(h.server.getPortForward({ podSandboxId: 'p1', ports: [port] }), port, new PassThrough());
    await closed(pf.ws);
    expect(pf.err()).toContain(`error forwarding port ${port} to pod p1`);
  });

  it('serves SPDY tunnelled in WebSocket (SPDY/3.1+portforward.k8s.io, as kubectl/crictl do)', async () => {
    const { stream, protocol } = await rawWebSocket(h.server.getPortForward({ podSandboxId: 'p1', ports: [] }), 'SPDY/3.1+portforward.k8s.io');
    expect(protocol).toBe('SPDY/3.1+portforward.k8s.io');
    const client = new SpdyClient(stream, Buffer.alloc(0));
    const [a, b] = await Promise.all([forwardConnection(client, portOf(web1)), forwardConnection(client, portOf(web2))]);
    const [ra, rb] = await Promise.all([httpOver(a, '/t1'), httpOver(b, '/t2')]);
    expect(ra.endsWith('one:/t1')).toBe(true);
    expect(rb.endsWith('two:/t2')).toBe(true);
    await client.close();
    await client.closed;
  });
});
