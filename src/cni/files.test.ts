import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeSandboxFiles } from './files';

describe('writeSandboxFiles', () => {
  let dir: string;
  let host: { hostname: string; resolvConf: string; hosts: string };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cni-files-'));
    host = { hostname: 'node-1', resolvConf: join(dir, 'host-resolv.conf'), hosts: join(dir, 'host-hosts') };
    writeFileSync(host.resolvConf, 'nameserver 192.0.2.1\n');
    writeFileSync(host.hosts, '127.0.0.1 localhost node-1\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the pod hostname, hosts with the pod IPs, and resolv.conf from DNSConfig', async () => {
    const files = await writeSandboxFiles(join(dir, 'sb'), {
      hostname: 'web-0',
      ips: ['10.88.0.5', 'fd00::5'],
      hostNetwork: false,
      dns: { servers: ['10.96.0.10', '10.96.0.11'], searches: ['ns.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5', 'edns0'] },
      host,
    });
    expect(files).toEqual({ hostname: join(dir, 'sb', 'hostname'), hosts: join(dir, 'sb', 'hosts'), resolvConf: join(dir, 'sb', 'resolv.conf') });
    expect(readFileSync(files.hostname, 'utf8')).toBe('web-0\n');
    const hosts = readFileSync(files.hosts, 'utf8');
    expect(hosts).toContain('127.0.0.1\tlocalhost\n');
    expect(hosts).toContain('::1\tlocalhost ip6-localhost ip6-loopback\n');
    expect(hosts).toContain('10.88.0.5\tweb-0\nfd00::5\tweb-0\n');
    expect(readFileSync(files.resolvConf, 'utf8')).toBe(
      'search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5 edns0\n',
    );
  });

  it("falls back to the host's resolv.conf without DNSConfig", async () => {
    const files = await writeSandboxFiles(dir, { hostname: 'web-0', ips: [], hostNetwork: false, host });
    expect(readFileSync(files.resolvConf, 'utf8')).toBe('nameserver 192.0.2.1\n');
  });

  it("uses the host's hostname and hosts for host-network pods", async () => {
    const files = await writeSandboxFiles(dir, { hostname: 'ignored', ips: [], hostNetwork: true, host });
    expect(readFileSync(files.hostname, 'utf8')).toBe('node-1\n');
    expect(readFileSync(files.hosts, 'utf8')).toBe('127.0.0.1 localhost node-1\n');
  });

  it('rewrites files in place on a second call', async () => {
    await writeSandboxFiles(dir, { hostname: 'a', ips: [], hostNetwork: false, host });
    const files = await writeSandboxFiles(dir, { hostname: 'b', ips: [], hostNetwork: false, host });
    expect(readFileSync(files.hostname, 'utf8')).toBe('b\n');
  });
});
