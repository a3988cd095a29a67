import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real Debian `docker-registry` (distribution 2.8) on 127.0.0.1 with a
 * temp storage dir, optionally behind htpasswd basic auth. Each instance is
 * a child process killed by PID in `stop()` (and at process exit).
 */
export interface TestRegistry {
  /** `127.0.0.1:<port>`: the registry host as it appears in image references. */
  readonly host: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly auth?: { username: string; password: string };
  readonly pid: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
});

export async function startRegistry(opts: { auth?: { username: string; password: string } } = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'mesos-cri-registry-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const lines = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
    ];
    if (opts.auth) {
      const entry = execFileSync('htpasswd', ['-Bbn', opts.auth.username, opts.auth.password]).toString().trim();
      await writeFile(join(dir, 'htpasswd'), entry + '\n');
      lines.push('auth:', '  htpasswd:', '    realm: test-realm', `    path: ${join(dir, 'htpasswd')}`);
    }
    await writeFile(join(dir, 'config.yml'), lines.join('\n') + '\n');
    const child = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(child);
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const url = `http://127.0.0.1:${port}`;
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      live.delete(child);
      await rm(dir, { recursive: true, force: true });
    };
    const ready = await waitReady(url, child, 20_000);
    if (ready) return { host: `127.0.0.1:${port}`, url, pid: child.pid!, stop, ...(opts.auth ? { auth: opts.auth } : {}) };
    // Lost the port race or failed: retry a few times, then report.
    if (child.exitCode === null) child.kill('SIGKILL');
    live.delete(child);
    if (attempt >= 3) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`failed to start docker-registry: ${stderr}`);
    }
  }
}

async function waitReady(url: string, child: ChildProcess, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      const res = await fetch(`${url}/v2/`);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
