import * as http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StreamingServer } from '../../src/streaming/server';
import { dialSpdy } from './spdy-client';
import { startHarness, type Harness } from './harness';
import { openCommand, spdyRun, until } from './spdy-remotecommand';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const execUrl = (): string => h.server.getExec({ containerId: 'c1', cmd: ['echo', 'ran'], tty: false, stdin: false, stdout: true, stderr: true });

function plainRequest(url: string, method = 'POST'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('streaming tokens', () => {
  it('issues URLs on the server for each kind', () => {
    const base = h.server.url;
    expect(execUrl()).toMatch(new RegExp(`^${base}/exec/[A-Za-z0-9_-]{8}$`));
    expect(h.server.getAttach({ containerId: 'c', tty: false, stdin: false, stdout: true, stderr: true })).toMatch(/\/attach\/[A-Za-z0-9_-]{8}$/);
    expect(h.server.getPortForward({ podSandboxId: 'p', ports: [80] })).toMatch(/\/portforward\/[A-Za-z0-9_-]{8}$/);
  });

  it('serves a token once: reuse gets 404 and nothing runs', async () => {
    const url = execUrl();
    expect((await spdyRun(url)).stdout).toBe('ran\n');
    const again = await dialSpdy(url, { protocols: ['v4.channel.k8s.io'] });
    expect(again.client).toBeUndefined();
    expect(again.response.status).toBe(404);
    expect(again.response.body).toBe('404 page not found\n');
    expect(h.runtime.execCount).toBe(1);
  });

  it('rejects an expired token with 404', async () => {
    const url = execUrl();
    h.clock.advance(60_001);
    const r = await dialSpdy(url, { protocols: ['v4.channel.k8s.io'] });
    expect(r.response.status).toBe(404);
    expect(h.runtime.execCount).toBe(0);
  });

  it('rejects unknown tokens and tokens used on the wrong route, burning them', async () => {
    expect((await dialSpdy(`${h.server.url}/exec/AAAAAAAA`, { protocols: ['v4.channel.k8s.io'] })).response.status).toBe(404);
    const url = execUrl();
    const wrong = url.replace('/exec/', '/attach/');
    expect((await dialSpdy(wrong, { protocols: ['v4.channel.k8s.io'] })).response.status).toBe(404);
    expect((await dialSpdy(url, { protocols: ['v4.channel.k8s.io'] })).response.status).toBe(404);
    expect(h.runtime.execCount).toBe(0);
  });

  it('answers 400 to a plain request with a valid token, and the token is used up', async () => {
    const url = execUrl();
    expect(await plainRequest(url)).toEqual({ status: 400, body: 'unable to upgrade: missing upgrade headers in request\n' });
    expect((await plainRequest(url)).status).toBe(404);
    expect((await plainRequest(`${h.server.url}/nope`, 'GET')).status).toBe(404);
  });

  it('rejects out-of-range ports when issuing a port-forward URL', () => {
    expect(() => h.server.getPortForward({ podSandboxId: 'p', ports: [70000] })).toThrow(/out of range/);
  });
});

describe('server lifecycle', () => {
  it('stop() drops live sessions and their processes', async () => {
    const url = h.server.getExec({ containerId: 'c1', cmd: ['sh', '-c', 'echo up; exec sleep 600'], tty: false, stdin: false, stdout: true, stderr: true });
    const s = await openCommand(url, { stdin: false, stdout: true, stderr: true, tty: false });
    await until(() => s.stdout!.text().includes('up'), 'process start');
    await h.server.stop();
    await s.client.closed;
    await until(() => h.runtime.live.size === 0, 'process to be killed');
  });

  it('refuses URLs before start', async () => {
    const s = new StreamingServer({ address: '127.0.0.1', port: 0, runtime: h.runtime });
    expect(() => s.getExec({ containerId: 'c', cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: false })).toThrow(/not started/);
    await s.stop();
  });
});
