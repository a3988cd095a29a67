import { PassThrough } from 'node:stream';
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness';
import { until } from './spdy-remotecommand';
import { FakeTerminal, closed, collect, exitCodeOf, k8sExec } from './ws-helpers';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const exec = (cmd: string[], o: { tty?: boolean; stdin?: boolean } = {}): string =>
  h.server.getExec({ containerId: 'c1', cmd, tty: o.tty ?? false, stdin: o.stdin ?? false, stdout: true, stderr: !o.tty });

describe('WebSocket exec with @kubernetes/client-node', () => {
  it('negotiates v5 and returns output, separate stderr and success', async () => {
    const r = await k8sExec(exec(['sh', '-c', 'echo out; echo err >&2']));
    expect(r.protocol).toBe('v5.channel.k8s.io');
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(r.status?.status).toBe('Success');
  });

  it('carries a non-zero exit code', async () => {
    const r = await k8sExec(exec(['sh', '-c', 'exit 42']));
    expect(exitCodeOf(r.status)).toBe(42);
  });

  it('pipes stdin and delivers EOF through the v5 close signal', async () => {
    const stdin = new PassThrough();
    const run = k8sExec(exec(['sh', '-c', 'cat; echo eof-seen'], { stdin: true }), { stdin });
    stdin.write('line1\n');
    stdin.end('line2\n');
    const r = await run;
    expect(r.stdout).toBe('line1\nline2\neof-seen\n');
    expect(exitCodeOf(r.status)).toBe(0);
    expect(r.closeCode).toBe(1000);
  });

  it('applies the terminal size and its changes (stty size)', async () => {
    const term = new FakeTerminal();
    term.setSize(90, 30);
    const script = 'until [ "$(stty size)" = "30 90" ]; do sleep 0.02; done; echo first-ok; ' +
      'until [ "$(stty size)" = "50 132" ]; do sleep 0.02; done; stty size; exit 2';
    const out = collect(term);
    const run = k8sExec(exec(['sh', '-c', script], { tty: true, stdin: true }), { tty: true, stdout: term, stdin: new PassThrough() });
    await until(() => out().includes('first-ok'), 'initial size');
    term.setSize(132, 50);
    const r = await run;
    expect(out()).toContain('50 132');
    expect(exitCodeOf(r.status)).toBe(2);
    expect(h.runtime.resizes).toContainEqual({ width: 132, height: 50 });
  });

  it('runs sessions concurrently', async () => {
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => k8sExec(exec(['sh', '-c', `echo n${i}; exit ${i}`]))));
    runs.forEach((r, i) => {
      expect(r.stdout).toBe(`n${i}\n`);
      expect(exitCodeOf(r.status)).toBe(i);
    });
  });
});

describe('WebSocket exec, other protocols (raw ws client)', () => {
  function rawSession(url: string, protocols: string[]): Promise<{ messages: Array<{ data: Buffer; binary: boolean }>; protocol: string; code: number; ws: WebSocket }> {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols);
    const messages: Array<{ data: Buffer; binary: boolean }> = [];
    ws.on('message', (data, binary) => messages.push({ data: data as Buffer, binary }));
    return new Promise((resolve, reject) => {
      ws.once('error', reject);
      ws.once('close', (code) => resolve({ messages, protocol: ws.protocol, code, ws }));
    });
  }

  it('speaks v4.base64 with text frames and a JSON status', async () => {
    const r = await rawSession(exec(['sh', '-c', 'printf hi; exit 3']), ['v4.base64.channel.k8s.io']);
    expect(r.protocol).toBe('v4.base64.channel.k8s.io');
    expect(r.messages.every((m) => !m.binary)).toBe(true);
    const decoded = r.messages.map((m) => ({ ch: m.data.toString()[0], text: Buffer.from(m.data.toString().slice(1), 'base64').toString() }));
    expect(decoded[0]).toEqual({ ch: '1', text: '' }); // the opening empty message on the first writable channel
    expect(decoded.filter((d) => d.ch === '1').map((d) => d.text).join('')).toBe('hi');
    const status = JSON.parse(decoded.find((d) => d.ch === '3')!.text) as { details: { causes: Array<{ message: string }> } };
    expect(status.details.causes[0]!.message).toBe('3');
    expect(r.code).toBe(1000);
  });

  it('speaks channel.k8s.io (pre-v4): failure text only', async () => {
    const r = await rawSession(exec(['sh', '-c', 'exit 1']), ['channel.k8s.io']);
    expect(r.protocol).toBe('channel.k8s.io');
    const err = r.messages.filter((m) => m.data[0] === 3).map((m) => m.data.subarray(1).toString()).join('');
    expect(err).toContain('non-zero exit code');
  });

  it('refuses a handshake with no protocol it speaks (403) and burns the token', async () => {
    const url = exec(['true']);
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v9.channel.k8s.io']);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(403);
    const again = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
      ws.on('error', () => undefined);
    });
    expect(again).toBe(404);
    expect(h.runtime.execCount).toBe(0);
  });

  it('kills the process when the client drops the connection', async () => {
    const ws = new WebSocket(exec(['sh', '-c', 'echo up; exec sleep 600']).replace(/^http/, 'ws'), ['v5.channel.k8s.io']);
    let seen = '';
    ws.on('message', (d: Buffer) => (seen += d.subarray(1).toString()));
    await until(() => seen.includes('up'), 'process start');
    expect(h.runtime.live.size).toBe(1);
    ws.terminate();
    await closed(ws);
    await until(() => h.runtime.live.size === 0, 'process to be killed');
  });
});
