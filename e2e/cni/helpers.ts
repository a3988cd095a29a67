import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Test fixtures for the CNI isolator: a test-owned bridge and subnet, no
 * masquerading, every host-side trace (bridge, iptables chains, sysctl,
 * processes, pins) undone in `cleanup()`.
 */

export const PLUGIN_DIR = '/usr/lib/cni';

export const canRun = (): boolean =>
  process.getuid?.() === 0 && ['bridge', 'host-local', 'portmap', 'loopback'].every((p) => existsSync(join(PLUGIN_DIR, p)));

const sh = (file: string, args: string[]): string => execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const tryRun = (file: string, args: string[]): void => {
  try {
    sh(file, args);
  } catch {
    // Best-effort cleanup: the thing may already be gone.
  }
};

export interface NetFixture {
  readonly root: string;
  readonly confDir: string;
  readonly binDir: string;
  readonly cacheDir: string;
  readonly netnsDir: string;
  readonly dataDir: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly network: string;
  conflist(extraPlugins?: Array<Record<string, unknown>>): { cniVersion: string; name: string; plugins: Array<Record<string, unknown>> };
  writeConf(name: string, value: unknown): void;
  spawnIn(netns: string, file: string, args: string[]): ChildProcess;
  cleanup(): Promise<void>;
}

const NSFS_MAGIC = 0x6e736673;
const natChains = (): Set<string> =>
  new Set(
    sh('iptables', ['-t', 'nat', '-S'])
      .split('\n')
      .filter((l) => l.startsWith('-N CNI-'))
      .map((l) => l.slice(3).trim()),
  );

export async function netFixture(opts: { bridge: string; subnet: string; network: string }): Promise<NetFixture> {
  const root = await mkdtemp(join(tmpdir(), 'mcri-cni-'));
  const dataDir = join(root, 'ipam');
  const chainsBefore = natChains();
  const forwardBefore = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  const children: ChildProcess[] = [];
  const fx: NetFixture = {
    root,
    confDir: join(root, 'net.d'),
    binDir: join(root, 'bin'),
    cacheDir: join(root, 'cache'),
    netnsDir: join(root, 'netns'),
    dataDir,
    ...opts,
    conflist: (extra = []) => ({
      cniVersion: '1.0.0',
      name: opts.network,
      plugins: [
        {
          type: 'bridge',
          bridge: opts.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: opts.subnet }]] },
        },
        ...extra,
        { type: 'portmap', capabilities: { portMappings: true } },
        { type: 'loopback' },
      ],
    }),
    writeConf(name, value) {
      execFileSync('mkdir', ['-p', fx.confDir]);
      writeFileSync(join(fx.confDir, name), typeof value === 'string' ? value : JSON.stringify(value));
    },
    spawnIn(netns, file, args) {
      const child = spawn('nsenter', [`--net=${netns}`, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    },
    async cleanup() {
      for (const c of children) if (c.exitCode === null && c.pid) tryRun('kill', ['-9', String(c.pid)]);
      if (existsSync(fx.netnsDir)) {
        for (const n of readdirSync(fx.netnsDir)) {
          const p = join(fx.netnsDir, n);
          try {
            if (statfsSync(p).type === NSFS_MAGIC) tryRun('umount', ['-l', p]);
          } catch {
            // Already gone.
          }
        }
      }
      tryRun('ip', ['link', 'del', opts.bridge]);
      // portmap's chains: per-container `CNI-DN-*` and the shared
      // `CNI-HOSTPORT-*`; remove only those this test created.
      const created = [...natChains()].filter((c) => !chainsBefore.has(c));
      for (const [chain, from] of [
        ['CNI-HOSTPORT-DNAT', ['PREROUTING', 'OUTPUT']],
        ['CNI-HOSTPORT-MASQ', ['POSTROUTING']],
      ] as const) {
        if (!created.includes(chain)) continue;
        for (const parent of from) {
          const rules = sh('iptables', ['-t', 'nat', '-S', parent]).split('\n').filter((l) => l.includes(`-j ${chain}`));
          // The shell re-splits `-S` output, whose comments are double-quoted.
          for (const r of rules) tryRun('sh', ['-c', `iptables -t nat ${r.replace(/^-A /, '-D ')}`]);
        }
      }
      for (const c of created) tryRun('iptables', ['-t', 'nat', '-F', c]);
      for (const c of created) tryRun('iptables', ['-t', 'nat', '-X', c]);
      writeFileSync('/proc/sys/net/ipv4/ip_forward', forwardBefore);
      await rm(root, { recursive: true, force: true });
    },
  };
  return fx;
}

/** Opens a TCP connection and returns what the server sends before closing. */
export function readFrom(host: string, port: number, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => sock.destroy(new Error(`timed out reading ${host}:${port}`)), timeoutMs);
    sock.on('data', (b: Buffer) => chunks.push(b));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
  });
}

/** Polls `fn` until it stops throwing (servers take a moment to listen). */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export const leases = (fx: NetFixture): string[] => {
  const dir = join(fx.dataDir, fx.network);
  return existsSync(dir) ? readdirSync(dir).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)) : [];
};

export const isPinnedSync = (path: string): boolean => {
  try {
    return statfsSync(path).type === NSFS_MAGIC;
  } catch {
    return false;
  }
};

export const run = sh;
