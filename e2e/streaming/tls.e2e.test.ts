import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness';
import { dialSpdy } from './spdy-client';
import { spdyRun } from './spdy-remotecommand';
import { exitCodeOf, k8sExec } from './ws-helpers';

let dir: string;
let cert: string;
let key: string;
let h: Harness;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'streaming-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  key = join(dir, 'key.pem'); // a path: the server accepts PEM text or a file
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(async () => {
  h = await startHarness({ tls: { cert, key } });
});
afterEach(async () => {
  await h.close();
});

describe('streaming over TLS', () => {
  it('issues https URLs and serves SPDY and WebSocket exec over TLS', async () => {
    const url = h.server.getExec({ containerId: 'c', cmd: ['sh', '-c', 'echo secure; exit 9'], tty: false, stdin: false, stdout: true, stderr: true });
    expect(url.startsWith('https://127.0.0.1:')).toBe(true);
    const { client } = await dialSpdy(url, { protocols: ['v4.channel.k8s.io'], ca: cert });
    expect(client).toBeDefined();
    client!.destroy();
    const r = await spdyRun(h.server.getExec({ containerId: 'c', cmd: ['sh', '-c', 'echo secure; exit 9'], tty: false, stdin: false, stdout: true, stderr: true }), {}).catch((e: unknown) => e);
    // spdyRun has no CA: the handshake must fail certificate verification.
    expect(r).toBeInstanceOf(Error);
    const ws = await k8sExec(h.server.getExec({ containerId: 'c', cmd: ['sh', '-c', 'echo secure; exit 9'], tty: false, stdin: false, stdout: true, stderr: true }), { ca: cert });
    expect(ws.stdout).toBe('secure\n');
    expect(exitCodeOf(ws.status)).toBe(9);
  });
});
