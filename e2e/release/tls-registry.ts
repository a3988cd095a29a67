import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import { freePort } from '../support/registry';

/**
 * A test-made CA, and a Debian docker-registry served with TLS from it that
 * requires a client certificate from the same CA, on an existing storage dir
 * (so a plain registry on the same dir can be pushed to).
 */
export interface TestPki {
  readonly dir: string;
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

const openssl = (args: string[], cwd: string): void => void execFileSync('openssl', args, { cwd, stdio: 'pipe' });

export function makePki(dir: string, names: readonly string[]): TestPki {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=mesos-cri test CA'], dir);
  const issue = (name: string, cn: string, ext: string): void => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
  };
  const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  issue('server', names[0]!, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  issue('client', 'mesos-cri test client', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}

export interface RunningRegistry {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** With `pki`: TLS requiring a client certificate; without: plain HTTP. */
export async function startTlsRegistry(storage: string, pki: TestPki | undefined, confDir: string): Promise<RunningRegistry> {
  const port = await freePort();
  const conf = join(confDir, `tls-registry-${port}.yml`);
  writeFileSync(
    conf,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(pki ? ['  tls:', `    certificate: ${pki.serverCert}`, `    key: ${pki.serverKey}`, '    clientcas:', `      - ${pki.ca}`] : []),
    ].join('\n') + '\n',
  );
  const child = spawn('/usr/bin/docker-registry', ['serve', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
  };
  const deadline = Date.now() + 20_000;
  const tls = pki ? { ca: readFileSync(pki.ca), cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) } : undefined;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = (tls ? request : httpRequest)({ host: '127.0.0.1', port, path: '/v2/', ...tls }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
      req.end();
    });
    if (status === 200) return { port, child, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`TLS registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
