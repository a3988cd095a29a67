import { PassThrough } from 'node:stream';
import type WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness';
import { kube, configFor, handlerFor } from './k8s-client';
import { dialSpdy } from './spdy-client';
import { finishCommand, openCommand, until } from './spdy-remotecommand';
import { closed, collect } from './ws-helpers';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const attachUrl = (id: string, o: { tty?: boolean; stdin?: boolean } = {}): string =>
  h.server.getAttach({ containerId: id, tty: o.tty ?? false, stdin: o.stdin ?? true, stdout: true, stderr: !o.tty });

/** Attaches with client-node's `Attach` (WebSocket, v5). */
async function k8sAttach(url: string, stdin: PassThrough | null, stdout = new PassThrough(), stderr: PassThrough | null = new PassThrough()): Promise<{ ws: WebSocket; out: () => string }> {
  const k = await kube();
  const a = new k.Attach(configFor(url), await handlerFor(url));
  const out = collect(stdout);
  const ws = (await a.attach('ns', 'pod', 'c', stdout, stderr, stdin, false)) as unknown as WebSocket;
  return { ws, out };
}

describe('attach', () => {
  it('serves several clients at once; detaching one leaves the container running', async () => {
    h.runtime.startContainer('echoer', ['sh', '-c', 'while read l; do echo "got:$l"; done']);
    const wsIn = new PassThrough();
    const a = await k8sAttach(attachUrl('echoer'), wsIn);
    const b = await openCommand(attachUrl('echoer'), { stdin: true, stdout: true, stderr: true, tty: false });
    wsIn.write('one\n');
    await until(() => a.out().includes('got:one') && b.stdout!.text().includes('got:one'), 'both clients to see output');
    // The WebSocket client leaves; the container must keep running and serving the other.
    a.ws.close();
    await closed(a.ws);
    b.stdin!.write('two\n');
    await until(() => b.stdout!.text().includes('got:two'), 'second client output');
    expect(a.out()).not.toContain('got:two');
    expect(h.runtime.containers.get('echoer')!.child.exitCode).toBeNull();
    // Detaching from SPDY (stdin FIN without stdin_once) also leaves it running.
    b.stdin!.finish();
    const r = await finishCommand(b);
    expect(r.exitCode).toBe(0);
    expect(h.runtime.containers.get('echoer')!.child.exitCode).toBeNull();
  });

  it('honours stdin_once: the first client EOF closes the container stdin', async () => {
    const c = h.runtime.startContainer('once', ['sh', '-c', 'cat; echo stdin-closed'], { stdinOnce: true });
    const s = await openCommand(attachUrl('once'), { stdin: true, stdout: true, stderr: true, tty: false });
    s.stdin!.write('payload\n');
    s.stdin!.finish();
    const r = await finishCommand(s);
    expect(r.stdout).toContain('payload\n');
    expect(await c.exited).toBe(0);
    expect(c.output).toContain('stdin-closed');
  });

  it('ends the session with Success when the container exits', async () => {
    h.runtime.startContainer('short', ['sh', '-c', 'read l; echo "bye $l" >&2']);
    const s = await openCommand(attachUrl('short'), { stdin: true, stdout: true, stderr: true, tty: false });
    s.stdin!.write('now\n');
    const r = await finishCommand(s);
    expect(r.stderr).toBe('bye now\n');
    expect(JSON.parse(r.errorText)).toMatchObject({ status: 'Success' });
  });

  it('attaches to a terminal with resize; detaching keeps it running', async () => {
    h.runtime.startContainer('term', ['sh', '-c', 'read l; echo "tty:$l"; until [ "$(stty size)" = "33 99" ]; do sleep 0.02; done; echo sized; exec sleep 600'], { tty: true });
    const s = await openCommand(attachUrl('term', { tty: true }), { stdin: true, stdout: true, stderr: false, tty: true });
    expect(s.stderr).toBeUndefined();
    s.stdin!.write('hi\n');
    s.resize!.write('{"Width":99,"Height":33}\n');
    await until(() => s.stdout!.text().includes('sized'), 'tty output and resize');
    expect(s.stdout!.text()).toContain('tty:hi');
    s.stdin!.finish();
    await finishCommand(s);
    expect(h.runtime.containers.get('term')!.child.exitCode).toBeNull();
  });

  it('does not let a client that stops reading stall the container or other clients', async () => {
    h.runtime.startContainer('spew', ['sh', '-c', 'while :; do head -c 1048576 /dev/zero; done']);
    // Client A attaches over SPDY and then never reads its socket again.
    const { client: slow } = await dialSpdy(attachUrl('spew', { stdin: false }), { protocols: ['v4.channel.k8s.io'] });
    await slow!.open({ streamtype: 'error' });
    await slow!.open({ streamtype: 'stdout' });
    await slow!.open({ streamtype: 'stderr' });
    slow!.socket.pause();
    // Client B keeps reading through client-node.
    const stdout = new PassThrough();
    let received = 0;
    stdout.on('data', (d: Buffer) => (received += d.length));
    const b = await k8sAttach(attachUrl('spew', { stdin: false }), null, stdout);
    await until(() => received > 8 * 1024 * 1024, 'fast client to start receiving', 60_000);
    const before = process.memoryUsage().arrayBuffers;
    await until(() => received > 96 * 1024 * 1024, 'fast client to keep receiving', 60_000);
    // What the slow client missed was dropped, not queued in the server.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(48 * 1024 * 1024);
    b.ws.close();
    await closed(b.ws);
    slow!.destroy();
  });

  it('reports an unknown container as a failure status', async () => {
    const s = await openCommand(attachUrl('nope', { stdin: false }), { stdin: false, stdout: true, stderr: true, tty: false });
    await Promise.all([s.stdout!.ended, s.stderr!.ended, s.error.ended]);
    expect(JSON.parse(s.error.text())).toMatchObject({ status: 'Failure', reason: 'InternalError' });
    await s.client.close();
  });
});
