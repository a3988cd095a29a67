import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { credentialsFromFile } from './credentials';
import { can, endpointsFor } from './endpoints';
import { hostsFor, loadHostsDir, systemCaCertificates } from './hosts';
import { bypassProxy, proxyEnv } from './transport';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'hosts-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('certs.d hosts', () => {
  it('reads hosts.toml: server, mirrors in order with capabilities, TLS files, headers, override_path', async () => {
    const d = tmp();
    mkdirSync(join(d, 'docker.io'));
    writeFileSync(join(d, 'ca.pem'), 'CA-PEM');
    writeFileSync(join(d, 'c.cert'), 'CERT');
    writeFileSync(join(d, 'c.key'), 'KEY');
    writeFileSync(
      join(d, 'docker.io', 'hosts.toml'),
      [
        'server = "https://registry-1.docker.io"',
        '[host."https://m1.example:5000"]',
        '  capabilities = ["pull"]',
        `  ca = "${join(d, 'ca.pem')}"`,
        `  client = [["${join(d, 'c.cert')}", "${join(d, 'c.key')}"]]`,
        '[host."https://m2.example/path/v2"]',
        '  override_path = true',
        '  skip_verify = true',
        '  [host."https://m2.example/path/v2".header]',
        '    X-Token = "abc"',
      ].join('\n'),
    );
    const hosts = await loadHostsDir(d);
    const eps = endpointsFor('docker.io', {}, [], hostsFor(hosts, 'docker.io'));
    expect(eps.map((e) => [e.base, e.mirror, can(e, 'pull'), can(e, 'resolve')])).toEqual([
      ['https://m1.example:5000', true, true, false],
      ['https://m2.example', true, true, true],
      ['https://registry-1.docker.io', false, true, true],
    ]);
    expect(eps[0]!.tls).toEqual({ ca: ['CA-PEM'], cert: 'CERT', key: 'KEY' });
    expect(eps[1]).toMatchObject({ apiRoot: 'https://m2.example/path/v2', tls: { skipVerify: true }, headers: { 'x-token': 'abc' } });
    expect(hostsFor(hosts, 'quay.io')).toBeUndefined();
  });

  it('takes Docker-style *.crt / *.cert + *.key files, and _default for any host', async () => {
    const d = tmp();
    mkdirSync(join(d, '_default'));
    writeFileSync(join(d, '_default', 'a.crt'), 'CA1');
    writeFileSync(join(d, '_default', 'client.cert'), 'C');
    writeFileSync(join(d, '_default', 'client.key'), 'K');
    const eps = endpointsFor('quay.io', {}, [], hostsFor(await loadHostsDir(d), 'quay.io'));
    expect(eps).toEqual([{ base: 'https://quay.io', mirror: false, capabilities: ['pull', 'resolve'], tls: { ca: ['CA1'], cert: 'C', key: 'K' } }]);
  });

  it('names the file and the problem for bad input; an absent dir means none', async () => {
    const d = tmp();
    expect((await loadHostsDir(join(d, 'absent'))).size).toBe(0);
    mkdirSync(join(d, 'r.example'));
    writeFileSync(join(d, 'r.example', 'hosts.toml'), 'server = [');
    await expect(loadHostsDir(d)).rejects.toThrow(/r\.example\/hosts\.toml: not valid TOML/);
    writeFileSync(join(d, 'r.example', 'hosts.toml'), '[host."https://m"]\ncapabilities = ["steal"]\n');
    await expect(loadHostsDir(d)).rejects.toThrow(/capabilities/);
    writeFileSync(join(d, 'r.example', 'hosts.toml'), 'ca = "/nonexistent/ca.pem"\n');
    await expect(loadHostsDir(d)).rejects.toThrow(/cannot read \/nonexistent\/ca\.pem/);
    writeFileSync(join(d, 'r.example', 'hosts.toml'), '[host."https://m"]\n[host."https://m".header]\n"bad header" = "x"\n');
    await expect(loadHostsDir(d)).rejects.toThrow(/not a valid HTTP header/);
    rmSync(join(d, 'r.example', 'hosts.toml'));
    writeFileSync(join(d, 'r.example', 'only.cert'), 'C');
    await expect(loadHostsDir(d)).rejects.toThrow(/only\.cert has no only\.key/);
  });

  it('uses the system CA store by default, not only Node\'s bundled one', async () => {
    const cas = await systemCaCertificates();
    const bundle = readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8');
    expect(cas.length).toBeGreaterThan(10);
    expect(bundle).toContain(cas[0]!);
  });
});

describe('proxy environment', () => {
  it('reads upper case first and skips loopback, NO_PROXY domains, suffixes, IPs, CIDRs and ports as Go does', () => {
    const env = proxyEnv({ HTTPS_PROXY: '127.0.0.1:3128', https_proxy: 'http://other:1', NO_PROXY: 'corp.example, .internal, 10.0.0.0/8, 192.168.1.5, reg.example:5000' });
    expect(env.httpsProxy?.href).toBe('http://127.0.0.1:3128/');
    const by = (u: string): boolean => bypassProxy(new URL(u), env.noProxy);
    expect(by('https://localhost:5000')).toBe(true);
    expect(by('https://127.0.0.1:5000')).toBe(true);
    expect(by('https://corp.example')).toBe(true);
    expect(by('https://a.corp.example')).toBe(true);
    expect(by('https://notcorp.example')).toBe(false);
    expect(by('https://x.internal')).toBe(true);
    expect(by('https://10.2.3.4')).toBe(true);
    expect(by('https://11.2.3.4')).toBe(false);
    expect(by('https://192.168.1.5')).toBe(true);
    expect(by('https://reg.example:5000')).toBe(true);
    expect(by('https://reg.example')).toBe(false);
    expect(by('https://registry-1.docker.io')).toBe(false);
    expect(bypassProxy(new URL('https://x'), proxyEnv({ NO_PROXY: '*' }).noProxy)).toBe(true);
    expect(() => proxyEnv({ HTTPS_PROXY: 'socks5://h:1' })).toThrow(/only http:\/\//);
  });
});

describe('credentials file', () => {
  it('picks the most specific key, normalizes schemes and Docker Hub, and ignores an absent file', async () => {
    const d = tmp();
    const f = join(d, 'config.json');
    writeFileSync(
      f,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: 'aHViOmh1Yg==' },
          'reg.example': { username: 'u', password: 'p' },
          'reg.example/team': { identitytoken: 'tok' },
        },
      }),
    );
    expect(await credentialsFromFile(f, 'docker.io', 'library/busybox')).toEqual({ auth: 'aHViOmh1Yg==' });
    expect(await credentialsFromFile(f, 'reg.example', 'team/app')).toEqual({ identityToken: 'tok' });
    expect(await credentialsFromFile(f, 'reg.example', 'other/app')).toEqual({ username: 'u', password: 'p' });
    expect(await credentialsFromFile(f, 'quay.io', 'x')).toBeUndefined();
    expect(await credentialsFromFile(join(d, 'absent.json'), 'reg.example', 'x')).toBeUndefined();
    writeFileSync(f, '{not json');
    await expect(credentialsFromFile(f, 'reg.example', 'x')).rejects.toThrow(/failed to read registry credentials file/);
  });
});
