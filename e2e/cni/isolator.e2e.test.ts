import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { background, withTimeout } from '../../src/common/ctx';
import { CniNetworkIsolator } from '../../src/cni/isolator';
import { writeSandboxFiles } from '../../src/cni/files';
import { canRun, eventually, isPinnedSync, leases, netFixture, PLUGIN_DIR, readFrom, run, type NetFixture } from './helpers';

const HOST_PORT = 38_471;
const ctx = background();

const pod = (id: string, extra: Partial<Parameters<CniNetworkIsolator['attach']>[0]> = {}) => ({
  sandboxId: id,
  podName: `pod-${id}`,
  podNamespace: 'e2e',
  podUid: `uid-${id}`,
  portMappings: [],
  ...extra,
});

describe.skipIf(!canRun())('CNI isolator on real plugins', () => {
  let fx: NetFixture;
  const make = (): CniNetworkIsolator =>
    new CniNetworkIsolator({ confDir: fx.confDir, binDirs: [fx.binDir, PLUGIN_DIR], cacheDir: fx.cacheDir, netnsDir: fx.netnsDir });

  beforeAll(async () => {
    fx = await netFixture({ bridge: 'mcri-t0', subnet: '10.250.0.0/24', network: 'mcri-e2e' });
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('is not ready without a config, then picks one up without a restart', async () => {
    const iso = make();
    const before = iso.status();
    expect(before.ready).toBe(false);
    expect(before.reason).toBe('NetworkPluginNotReady');
    expect(before.message).toContain(fx.confDir);
    await expect(iso.attach(pod('noconf'), ctx)).rejects.toMatchObject({ code: 'FailedPrecondition', message: expect.stringContaining(fx.confDir) });
    expect(existsSync(`${fx.netnsDir}/noconf`)).toBe(false);

    fx.writeConf('05-broken.conflist', '{ not json');
    expect(iso.status().ready).toBe(false);
    expect(iso.status().message).toContain('05-broken.conflist');
    fx.writeConf('10-e2e.conflist', fx.conflist());
    expect(iso.status()).toEqual({ ready: true, reason: '', message: '' });
  });

  it('gives two pods distinct IPs that reach each other, the host, and a mapped port on 127.0.0.1', async () => {
    const iso = make();
    // Concurrently, as kubelet starts pods: IPAM and the bridge must not race.
    const [a, b] = await Promise.all([
      iso.attach(pod('a', { portMappings: [{ protocol: 'tcp', containerPort: 8080, hostPort: HOST_PORT, hostIp: '' }] }), ctx),
      iso.attach(pod('b'), ctx),
    ]);
    expect(a.networkName).toBe('mcri-e2e');
    expect(a.ips).toHaveLength(1);
    expect(a.ips[0]).toMatch(/^10\.250\.0\.\d+$/);
    expect(b.ips[0]).toMatch(/^10\.250\.0\.\d+$/);
    expect(a.ips[0]).not.toBe(b.ips[0]);
    expect(isPinnedSync(a.netnsPath)).toBe(true);
    expect(leases(fx).sort()).toEqual([...a.ips, ...b.ips].sort());
    // lo is up inside the pod.
    expect(run('nsenter', [`--net=${a.netnsPath}`, 'ip', '-o', 'addr', 'show', 'lo'])).toContain('127.0.0.1');

    fx.spawnIn(a.netnsPath, 'socat', ['TCP-LISTEN:8080,fork,reuseaddr', 'SYSTEM:echo hello-from-a']);
    // Pod to pod.
    const fromB = await eventually(async () => {
      const out = run('nsenter', [`--net=${b.netnsPath}`, 'socat', '-T5', '-', `TCP:${a.ips[0]}:8080`]);
      if (!out.includes('hello')) throw new Error(`got ${out}`);
      return out;
    });
    expect(fromB.trim()).toBe('hello-from-a');
    // Host to pod IP, and through the port mapping on loopback.
    expect((await eventually(() => readFrom(a.ips[0]!, 8080))).trim()).toBe('hello-from-a');
    expect((await eventually(() => readFrom('127.0.0.1', HOST_PORT))).trim()).toBe('hello-from-a');

    // CHECK passes on a healthy network and notices a broken one. NOTE: not
    // on `a`: Debian's portmap 1.1.1 fails CHECK on IPv4-only pods with
    // port mappings (containernetworking/plugins#819).
    await iso.check('b', ctx);
    run('nsenter', [`--net=${b.netnsPath}`, 'ip', 'addr', 'flush', 'dev', 'eth0']);
    await expect(iso.check('b', ctx)).rejects.toThrow(/failed to check pod network/);

    // Stop releases the IP, the namespace, the record and the port mapping.
    await iso.detach('a', ctx);
    expect(leases(fx)).toEqual(b.ips);
    expect(existsSync(a.netnsPath)).toBe(false);
    await expect(readFrom('127.0.0.1', HOST_PORT, 1000)).rejects.toThrow();
    expect(await iso.network('a')).toBeUndefined();
    expect(run('iptables', ['-t', 'nat', '-S'])).not.toContain(`--dport ${HOST_PORT}`);
    // Repeated DEL is fine.
    await iso.detach('a', ctx);
    await iso.detach('b', ctx);
    expect(leases(fx)).toEqual([]);
  });

  it('DEL works when the namespace or the cached result is gone', async () => {
    const iso = make();
    const c = await iso.attach(pod('c'), ctx);
    run('umount', [c.netnsPath]);
    await iso.detach('c', ctx);
    expect(leases(fx)).toEqual([]);
    expect(existsSync(c.netnsPath)).toBe(false);

    const d = await iso.attach(pod('d'), ctx);
    run('rm', ['-f', `${fx.cacheDir}/sandboxes/d.json`]);
    expect(await iso.network('d')).toBeUndefined();
    await iso.detach('d', ctx);
    expect(leases(fx)).toEqual([]);
    expect(existsSync(d.netnsPath)).toBe(false);
  });

  it('brings lo up itself when the config has no loopback plugin', async () => {
    const iso = make();
    fx.writeConf('10-e2e.conflist', { ...fx.conflist(), plugins: fx.conflist().plugins.filter((p) => p.type !== 'loopback') });
    try {
      const p = await iso.attach(pod('nolo'), ctx);
      const lo = run('nsenter', [`--net=${p.netnsPath}`, 'ip', '-o', 'addr', 'show', 'lo']);
      expect(lo).toContain('127.0.0.1');
      expect(p.ips[0]).toMatch(/^10\.250\.0\./);
      await iso.detach('nolo', ctx);
    } finally {
      fx.writeConf('10-e2e.conflist', fx.conflist());
    }
  });

  it('keeps known networks across a restart and cleans up orphans', async () => {
    const first = make();
    const keep = await first.attach(pod('keep'), ctx);
    const orphan = await first.attach(pod('orphan'), ctx);
    // A crash between ADD and the record update leaves the record `attaching`:
    // the sandbox never came up, even if the containerizer knows its id.
    const half = await first.attach(pod('half'), ctx);
    const recFile = `${fx.cacheDir}/sandboxes/half.json`;
    writeFileSync(recFile, readFileSync(recFile, 'utf8').replace('"state":"attached"', '"state":"attaching"'));
    fx.spawnIn(keep.netnsPath, 'socat', ['TCP-LISTEN:8081,fork,reuseaddr', 'SYSTEM:echo still-here']);
    // A pin with no record and its lease, as a crash could leave; and a lease
    // of another runtime on the same network and store, which is not ours.
    run('touch', [`${fx.netnsDir}/ghost`]);
    run('unshare', [`--net=${fx.netnsDir}/ghost`, 'true']);
    run('sh', ['-c', `printf 'ghost\\r\\neth0' > ${fx.dataDir}/${fx.network}/10.250.0.201`]);
    const foreign = `${fx.dataDir}/${fx.network}/10.250.0.200`;
    run('sh', ['-c', `printf 'containerd-sandbox-0123\\r\\neth0' > ${foreign}`]);

    // The daemon dies (nothing of the isolator lives in-process) and a new one recovers.
    const second = make();
    expect(await second.network('keep')).toEqual(keep);
    await second.recover(new Set(['keep', 'half']), ctx);

    expect(await second.network('keep')).toEqual(keep);
    expect(isPinnedSync(keep.netnsPath)).toBe(true);
    expect((await eventually(() => readFrom(keep.ips[0]!, 8081))).trim()).toBe('still-here');
    expect(await second.network('orphan')).toBeUndefined();
    expect(existsSync(orphan.netnsPath)).toBe(false);
    expect(existsSync(half.netnsPath)).toBe(false);
    expect(existsSync(recFile)).toBe(false);
    expect(existsSync(`${fx.netnsDir}/ghost`)).toBe(false);
    // Ours released; the other runtime's lease untouched.
    expect(leases(fx).sort()).toEqual([...keep.ips, '10.250.0.200'].sort());
    expect(readFileSync(foreign, 'utf8')).toBe('containerd-sandbox-0123\r\neth0');

    await second.detach('keep', ctx);
    expect(leases(fx)).toEqual(['10.250.0.200']);
    run('rm', ['-f', foreign]);
  });

  it('a failing or missing plugin fails attach with its message and leaves nothing behind', async () => {
    run('mkdir', ['-p', fx.binDir]);
    const broken = `${fx.binDir}/mcri-broken`;
    run('sh', [
      '-c',
      `printf '%s\\n' '#!/bin/sh' 'cat >/dev/null' 'if [ "$CNI_COMMAND" = ADD ]; then echo "{\\"cniVersion\\":\\"1.0.0\\",\\"code\\":100,\\"msg\\":\\"mcri-broken refuses\\"}"; exit 1; fi' > ${broken} && chmod +x ${broken}`,
    ]);
    const iso = make();
    fx.writeConf('10-e2e.conflist', fx.conflist([{ type: 'mcri-broken' }]));
    await expect(iso.attach(pod('broken'), ctx)).rejects.toThrow(/mcri-broken refuses/);
    fx.writeConf('10-e2e.conflist', fx.conflist([{ type: 'mcri-missing' }]));
    await expect(iso.attach(pod('missing'), ctx)).rejects.toThrow(/failed to find plugin "mcri-missing"/);

    // A hung plugin and a kubelet deadline: the chain is killed and rolled back.
    const hung = `${fx.binDir}/mcri-hung`;
    run('sh', ['-c', `printf '%s\\n' '#!/bin/sh' 'cat >/dev/null' 'if [ "$CNI_COMMAND" = ADD ]; then exec sleep 30; fi' > ${hung} && chmod +x ${hung}`]);
    fx.writeConf('10-e2e.conflist', fx.conflist([{ type: 'mcri-hung' }]));
    await expect(iso.attach(pod('hung'), withTimeout(ctx, 1500))).rejects.toMatchObject({ code: 'DeadlineExceeded' });

    for (const id of ['broken', 'missing', 'hung']) {
      expect(existsSync(`${fx.netnsDir}/${id}`)).toBe(false);
      expect(existsSync(`${fx.cacheDir}/sandboxes/${id}.json`)).toBe(false);
    }
    expect(leases(fx)).toEqual([]);
    // The bridge has no veth left attached.
    expect(run('ls', [`/sys/class/net/${fx.bridge}/brif`]).trim()).toBe('');
    fx.writeConf('10-e2e.conflist', fx.conflist());
  });

  it('sandbox files show DNS options and the hostname inside a container view', async () => {
    const iso = make();
    const p = await iso.attach(pod('files'), ctx);
    const dir = `${fx.root}/sandbox-files`;
    const files = await writeSandboxFiles(dir, {
      hostname: 'web-0',
      ips: p.ips,
      hostNetwork: false,
      dns: { servers: ['10.250.0.53'], searches: ['e2e.svc.cluster.local'], options: ['ndots:5'] },
    });
    // What a container of the pod sees: the files bind-mounted over /etc in its own mount namespace.
    const seen = run('unshare', [
      '--mount',
      'sh',
      '-c',
      `mount --bind ${files.resolvConf} /etc/resolv.conf && mount --bind ${files.hostname} /etc/hostname && mount --bind ${files.hosts} /etc/hosts && cat /etc/resolv.conf /etc/hostname /etc/hosts`,
    ]);
    expect(seen).toContain('nameserver 10.250.0.53');
    expect(seen).toContain('search e2e.svc.cluster.local');
    expect(seen).toContain('options ndots:5');
    expect(seen).toContain('web-0\n');
    expect(seen).toContain(`${p.ips[0]}\tweb-0`);
    expect(readFileSync('/etc/resolv.conf', 'utf8')).not.toContain('10.250.0.53');
    await iso.detach('files', ctx);
  });
});
