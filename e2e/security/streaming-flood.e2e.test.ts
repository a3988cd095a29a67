import { readFileSync, readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../support/daemon';
import { runPod, tearDown, testCgroupParent } from '../containerizer/cri-fixture';

/**
 * Anyone who reaches the streaming port may connect without a token. 10k
 * such connections (half of them holding a request open half-sent, half
 * asking for upgrades with made-up tokens) must not stop the daemon from
 * serving CRI, nor grow it without bound: it keeps at most its connection
 * cap open and answers the rest by closing them.
 */

const N = 10_000;
const rssMiB = (pid: number): number => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

describe('the streaming server under a tokenless flood', () => {
  const cgroupParent = testCgroupParent();
  let d: Daemon;
  let port = 0;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent] });
    const pod = await runPod(d, 'flood');
    const { url } = await d.runtime.call<{ url: string }>('PortForward', { pod_sandbox_id: pod.id, port: [80] });
    port = Number(new URL(url).port);
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await tearDown(d, cgroupParent);
  });

  it('keeps serving CRI with bounded memory and connections', async () => {
    // warm up, then take the baseline
    for (let i = 0; i < 20; i++) await d.runtime.call('Version', {});
    const rssBefore = rssMiB(d.pid);
    const fdsBefore = fds(d.pid);
    let refused = 0;
    const t0 = Date.now();
    const opened: Array<Promise<void>> = [];
    for (let i = 0; i < N; i++) {
      opened.push(
        new Promise<void>((resolve) => {
          const s = connect({ host: '127.0.0.1', port }, () => {
            // half hold a request open half-sent; half ask to upgrade with a made-up token
            if (i % 2 === 0) s.write('GET /exec/');
            else s.write(`GET /exec/bogus${i} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n`);
            resolve();
          });
          s.on('error', () => {
            refused++;
            resolve();
          });
          s.on('close', () => refused++);
          s.resume();
          sockets.push(s);
        }),
      );
      if (i % 500 === 499) await Promise.all(opened.splice(0));
    }
    await Promise.all(opened);
    const openMs = Date.now() - t0;
    // CRI still answers, and quickly
    const t1 = Date.now();
    for (let i = 0; i < 20; i++) await d.runtime.call('Version', {});
    const pods = await d.runtime.call<{ items: unknown[] }>('ListPodSandbox', {});
    const criMs = (Date.now() - t1) / 21;
    expect(pods.items.length).toBe(1);
    expect(criMs).toBeLessThan(50);
    // most of the flood was turned away, and what is held stays under the cap
    expect(fds(d.pid) - fdsBefore).toBeLessThanOrEqual(1024 + 16);
    expect(refused).toBeGreaterThan(N / 2);
    expect(rssMiB(d.pid) - rssBefore).toBeLessThan(200);
    process.stdout.write(`streaming flood: ${N} connections in ${openMs} ms, ${refused} closed by the daemon, CRI ${criMs.toFixed(1)} ms/call, RSS +${(rssMiB(d.pid) - rssBefore).toFixed(0)} MiB\n`);
  }, 120_000);
});
