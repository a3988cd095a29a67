import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { Duplex, PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { background } from '../../src/common/ctx';
import { isCriError } from '../../src/common/errors';
import { portForwardSession } from '../../src/mesos-compat/io';
import { cgroupExists } from '../oci/harness';
import { IoEnv, until } from './fixtures';

/** `portForwardSession` into a pinned netns where a container runs an echo server, and on the host network. */

const usable = process.getuid?.() === 0 && existsSync('/bin/busybox') &&
  (() => { try { execFileSync('runc', ['--version']); execFileSync('socat', ['-V']); return true; } catch { return false; } })();

/** The stream the streaming server would hand over: what the client sends, and a sink for what it receives. */
function clientStream(): { stream: Duplex; send: PassThrough; received: () => Buffer } {
  const send = new PassThrough();
  const recv = new PassThrough();
  const chunks: Buffer[] = [];
  recv.on('data', (b: Buffer) => chunks.push(b));
  return { stream: Duplex.from({ readable: send, writable: recv }), send, received: () => Buffer.concat(chunks) };
}

/** Helper processes still running with `needle` in their command line. */
function helpersWith(needle: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) pids.push(Number(p));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

describe.skipIf(!usable)('portForwardSession', () => {
  let env: IoEnv;
  let netns: string;
  const port = 7000 + (randomBytes(2).readUInt16BE() % 1000);

  beforeAll(async () => {
    env = await IoEnv.create();
    netns = await env.netns('pod');
    // A persistent echo server inside the pod's netns, in a container.
    await env.run('echo', ['nc', '-ll', '-p', String(port), '-e', 'cat'], { netns });
    await until(() => {
      try {
        return execFileSync('nsenter', [`--net=${netns}`, 'cat', '/proc/net/tcp6', '/proc/net/tcp']).toString().includes(`:${port.toString(16).toUpperCase().padStart(4, '0')} `);
      } catch {
        return false;
      }
    }, 15_000, 'the echo server to listen');
  });

  afterAll(async () => {
    await env?.cleanup();
    if (env) expect(await cgroupExists(env.parent)).toBe(false);
  });

  it('relays a few KB both ways inside the pod netns', async () => {
    const c = clientStream();
    const payload = randomBytes(48 * 1024);
    const done = portForwardSession({ netnsPath: netns, port }, c.stream, background());
    c.send.write(payload.subarray(0, 1000));
    await until(() => c.received().length >= 1000, 15_000, 'the first echo');
    c.send.end(payload.subarray(1000));
    await done;
    expect(c.received().equals(payload)).toBe(true);
  });

  it('rejects with the reason when the port cannot be reached', async () => {
    const err = await portForwardSession({ netnsPath: netns, port: port + 1 }, clientStream().stream, background()).catch((e: unknown) => e);
    expect(isCriError(err, 'Unavailable')).toBe(true);
    expect(String(err)).toMatch(/Connection refused/);
    // The echo server only exists inside the pod's netns, so the first test really dialled in there.
    const host = await portForwardSession({ port }, clientStream().stream, background()).catch((e: unknown) => e);
    expect(String(host)).toMatch(/on the host network: .*Connection refused/);
    const missing = await portForwardSession({ netnsPath: `${netns}-gone`, port }, clientStream().stream, background()).catch((e: unknown) => e);
    expect(String(missing)).toMatch(/nsenter/);
  });

  it('dials the host network without a netns, falling back to IPv6', async () => {
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '::1', r));
    try {
      const p = (server.address() as net.AddressInfo).port;
      const c = clientStream();
      const done = portForwardSession({ port: p }, c.stream, background());
      c.send.end('over-ipv6');
      await done;
      expect(c.received().toString()).toBe('over-ipv6');
    } finally {
      server.close();
    }
  });

  it('kills the helper when the context aborts', async () => {
    const abort = new AbortController();
    const c = clientStream();
    const done = portForwardSession({ netnsPath: netns, port }, c.stream, { signal: abort.signal });
    c.send.write('ping');
    await until(() => c.received().toString() === 'ping', 15_000, 'the echo');
    expect(helpersWith(`TCP4:127.0.0.1:${port}`)).toHaveLength(1);
    abort.abort();
    expect(isCriError(await done.catch((e: unknown) => e), 'Canceled')).toBe(true);
    expect(helpersWith(`TCP4:127.0.0.1:${port}`)).toEqual([]);
  });
});
