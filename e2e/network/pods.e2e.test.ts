import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, netFixture, PLUGIN_DIR, type NetFixture } from '../cni/helpers';
import {
  createCtr,
  ctrConfig,
  execSync,
  netnsPins,
  podConfig,
  removeCgroupTree,
  testCgroupParent,
  until,
  type Pod,
} from '../containerizer/cri-fixture';
import { ensureTestRegistry, pushBusybox, stopTestRegistry } from '../support/images';
import { freePort } from '../support/registry';
import { startDaemon, type Daemon } from '../support/daemon';

/**
 * Issue 5 through the daemon: pods on a test-owned CNI bridge (bridge +
 * host-local + portmap + loopback, no masquerading, no default route) get
 * their own IPs, reach each other and are reached from the host at their IP
 * and through a host port on 127.0.0.1; their DNS config and hostname are
 * what the container sees; stopping a pod releases its IP; the network
 * survives a kill -9 of the daemon.
 */

const natChains = (): Set<string> =>
  new Set(
    execFileSync('iptables', ['-t', 'nat', '-S'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.startsWith('-N CNI-'))
      .map((l) => l.slice(3).trim()),
  );

async function get(url: string, timeoutMs = 2000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return (await res.text()).trim();
}

describe.runIf(canRun())('pod networking through the daemon (CNI bridge)', () => {
  const cgroupParent = testCgroupParent();
  let fx: NetFixture;
  let d: Daemon;
  let bb = '';
  let hostPort = 0;
  let chainsBefore = new Set<string>();
  const pods: Record<string, Pod & { ip: string }> = {};

  const leases = (): string[] => {
    const dir = join(fx.dataDir, fx.network);
    return existsSync(dir) ? readdirSync(dir).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)) : [];
  };

  const runNetPod = async (name: string, extra: Record<string, unknown> = {}): Promise<Pod & { ip: string }> => {
    const logDir = join(d.base, 'pods', name);
    const config = podConfig(name, logDir, { hostNetwork: false, extra });
    const { pod_sandbox_id: id } = await d.runtime.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config });
    const st = await d.runtime.call<{ status: { network: { ip: string } } }>('PodSandboxStatus', { pod_sandbox_id: id });
    return (pods[name] = { id, config, logDir, ip: st.status.network.ip });
  };

  const serve = async (pod: Pod, text: string): Promise<string> => {
    const id = await createCtr(
      d,
      pod,
      ctrConfig('httpd', bb, ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 8080 -h /www`]),
    );
    await d.runtime.call('StartContainer', { container_id: id });
    return id;
  };

  const sleeper = async (pod: Pod): Promise<string> => {
    const id = await createCtr(d, pod, ctrConfig('client', bb, ['sleep', '1000']));
    await d.runtime.call('StartContainer', { container_id: id });
    return id;
  };

  /**
   * An HTTP GET from inside a container, by `nc`: the static busybox's
   * `wget` looks the service name up through NSS, which a static glibc
   * cannot load in a rootfs without libc (it crashes).
   */
  const httpFrom = async (ctr: string, ip: string): Promise<string> => {
    const r = await execSync(d, ctr, ['sh', '-c', `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 ${ip} 8080`]);
    if (r.exit_code !== 0 || !r.stdout.includes('\r\n\r\n')) throw new Error(`GET ${ip}:8080 failed (${r.exit_code}): ${r.stdout}${r.stderr}`);
    return r.stdout.slice(r.stdout.indexOf('\r\n\r\n') + 4).trim();
  };

  /** Retries `fn` (servers take a moment to listen); the last error explains a timeout. */
  const eventually = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    let last: unknown;
    try {
      return await until(what, () => fn().then((v) => v, (err: unknown) => void (last = err)), 15_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}: ${String(last)}`);
    }
  };

  beforeAll(async () => {
    chainsBefore = natChains();
    fx = await netFixture({ bridge: 'mcri-e0', subnet: '10.251.0.0/24', network: 'mcri-e2e-pods' });
    const reg = await ensureTestRegistry();
    bb = (await pushBusybox(reg, 'net/busybox:1')).ref;
    hostPort = await freePort();
    d = await startDaemon({ args: ['--cgroup-parent', cgroupParent, '--cni-bin-dir', PLUGIN_DIR] });
    await d.image.call('PullImage', { image: { image: bb } });
  });

  afterAll(async () => {
    if (d) {
      const { items } = await d.runtime.call<{ items: Array<{ id: string }> }>('ListPodSandbox', {}).catch(() => ({ items: [] }));
      for (const p of items) await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
      await d.cleanup();
    }
    // Bridge, portmap chains, ip_forward: whatever the daemon's CNI DELs left.
    await fx?.cleanup();
    removeCgroupTree(cgroupParent);
    await stopTestRegistry();
  });

  it('reports NetworkReady once a conflist is in the conf dir', async () => {
    type Cond = { type: string; status: boolean };
    const ready = async (): Promise<boolean> =>
      (await d.runtime.call<{ status: { conditions: Cond[] } }>('Status', {})).status.conditions.find((c) => c.type === 'NetworkReady')!.status;
    expect(await ready()).toBe(false);
    fx.writeConf('10-e2e.conflist', fx.conflist()); // into the fixture's dir, then into the daemon's
    execFileSync('mkdir', ['-p', join(d.base, 'cni')]);
    writeFileSync(join(d.base, 'cni', '10-e2e.conflist'), JSON.stringify(fx.conflist()));
    await until('NetworkReady', async () => ((await ready()) ? true : undefined), 10_000);
  });

  it('gives pods distinct IPs that reach each other, the host and a mapped port, with their DNS and hostname', async () => {
    const a = await runNetPod('pod-a', {
      dns_config: { servers: ['10.251.0.53'], searches: ['svc.e2e.local'], options: ['ndots:3'] },
      port_mappings: [{ protocol: 'TCP', container_port: 8080, host_port: hostPort }],
    });
    const b = await runNetPod('pod-b');
    for (const p of [a, b]) expect(p.ip).toMatch(/^10\.251\.0\.\d+$/);
    expect(a.ip).not.toBe(b.ip);
    expect(leases().sort()).toEqual([a.ip, b.ip].sort());

    await serve(a, 'hello-from-a');
    const client = await sleeper(b);
    expect(await eventually('pod b to reach pod a', () => httpFrom(client, a.ip))).toBe('hello-from-a');
    expect(await eventually('the host to reach pod a', () => get(`http://${a.ip}:8080/`))).toBe('hello-from-a');
    expect(await eventually('the host port', () => get(`http://127.0.0.1:${hostPort}/`))).toBe('hello-from-a');
    // Pod b's own address is on its eth0, and it has no default route (the conflist sets none).
    const addr = await execSync(d, client, ['ip', '-o', '-4', 'addr', 'show', 'eth0']);
    expect(addr.stdout).toContain(`${b.ip}/24`);
    expect((await execSync(d, client, ['ip', 'route'])).stdout).not.toMatch(/^default/m);

    const inA = await createCtr(d, a, ctrConfig('probe', bb, ['sleep', '1000']));
    await d.runtime.call('StartContainer', { container_id: inA });
    const resolv = (await execSync(d, inA, ['cat', '/etc/resolv.conf'])).stdout;
    expect(resolv).toMatch(/^nameserver 10\.251\.0\.53$/m);
    expect(resolv).toMatch(/^search svc\.e2e\.local$/m);
    expect(resolv).toMatch(/^options ndots:3$/m);
    expect((await execSync(d, inA, ['hostname'])).stdout.trim()).toBe('pod-a');
    expect((await execSync(d, inA, ['cat', '/etc/hosts'])).stdout).toMatch(new RegExp(`^${a.ip.replace(/\./g, '\\.')}\\s+pod-a`, 'm'));
    // Pod b took the host's DNS (no dns_config).
    expect((await execSync(d, client, ['cat', '/etc/resolv.conf'])).stdout).not.toContain('10.251.0.53');
  });

  it('releases the IP and the netns on StopPodSandbox', async () => {
    const b = pods['pod-b']!;
    const pinsBefore = netnsPins(d.runDir).length;
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: b.id });
    expect(leases()).not.toContain(b.ip);
    expect(netnsPins(d.runDir).length).toBe(pinsBefore - 1);
    const st = await d.runtime.call<{ status: { state: string } }>('PodSandboxStatus', { pod_sandbox_id: b.id });
    expect(st.status.state).toBe('SANDBOX_NOTREADY');
    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: b.id }); // idempotent
    await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: b.id });
    delete pods['pod-b'];
  });

  it('keeps the network working across a kill -9 of the daemon', async () => {
    const a = pods['pod-a']!;
    // Another runtime's pod on the same network and host-local store (containerd
    // during a migration, a second instance): its lease is not ours to release.
    const foreign = join(fx.dataDir, fx.network, '10.251.0.250');
    writeFileSync(foreign, `${'c'.repeat(64)}\r\neth0`);
    await d.kill9();
    // The pod keeps serving while the daemon is down.
    expect(await get(`http://${a.ip}:8080/`)).toBe('hello-from-a');
    d = await d.restart();
    const st = await d.runtime.call<{ status: { state: string; network: { ip: string } } }>('PodSandboxStatus', { pod_sandbox_id: a.id });
    expect(st.status).toMatchObject({ state: 'SANDBOX_READY', network: { ip: a.ip } });
    expect(leases().sort()).toEqual([a.ip, '10.251.0.250'].sort());
    expect(readFileSync(foreign, 'utf8')).toBe(`${'c'.repeat(64)}\r\neth0`);
    expect(d.logs()).not.toMatch(/releasing orphaned IP lease/);
    rmSync(foreign);
    expect(await get(`http://127.0.0.1:${hostPort}/`)).toBe('hello-from-a');

    const c = await runNetPod('pod-c');
    expect(c.ip).not.toBe(a.ip);
    const client = await sleeper(c);
    expect(await eventually('pod c to reach pod a', () => httpFrom(client, a.ip))).toBe('hello-from-a');

    await d.runtime.call('StopPodSandbox', { pod_sandbox_id: a.id });
    expect(leases()).toEqual([c.ip]);
    await expect(get(`http://127.0.0.1:${hostPort}/`, 1000)).rejects.toThrow();
    for (const p of [a, c]) await d.runtime.call('RemovePodSandbox', { pod_sandbox_id: p.id });
    expect(leases()).toEqual([]);
    expect(netnsPins(d.runDir)).toEqual([]);
    // portmap's per-pod chains went with the pods' DELs.
    expect([...natChains()].filter((x) => !chainsBefore.has(x) && x.startsWith('CNI-DN-'))).toEqual([]);
  });
});
