import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageServiceClient } from '../../cri/generated/runtime/v1/ImageService';
import type { RuntimeServiceClient } from '../../cri/generated/runtime/v1/RuntimeService';
import { ensureBuilt, MAIN_JS } from './build';
import { connectCri, type CriClient } from './cri-client';

export interface DaemonOptions {
  /** Extra command-line flags (after the temp-dir flags, so they win). */
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Reuse these dirs (a restart of the same node). */
  readonly dirs?: { readonly base: string };
}

export interface Daemon {
  readonly base: string;
  readonly socket: string;
  readonly workDir: string;
  readonly runDir: string;
  readonly pid: number;
  readonly runtime: CriClient<RuntimeServiceClient>;
  readonly image: CriClient<ImageServiceClient>;
  /** Everything the daemon printed (JSON log lines). */
  logs(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash would. */
  kill9(): Promise<void>;
  /**
   * Starts a new daemon on the same dirs; one still running is stopped
   * first (SIGTERM), so that the new one is the only one on them.
   */
  restart(extra?: DaemonOptions): Promise<Daemon>;
  /** Stops the daemon if running and removes the temp dirs. */
  cleanup(): Promise<void>;
}

/** Lazily unmounts anything still mounted below `dir` (deepest first), so `rm` never crosses into a mount. */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
}

function waitExit(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Runs the real daemon (`node dist/src/main.js`) on temporary dirs and waits until it serves. */
export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  ensureBuilt();
  const base = opts.dirs?.base ?? mkdtempSync(join(tmpdir(), 'mcri-'));
  const socket = join(base, 'run', 'mesos-cri.sock');
  const workDir = join(base, 'lib');
  const runDir = join(base, 'run');
  const args = [
    MAIN_JS,
    '--config', join(base, 'none.yaml'),
    '--socket', socket,
    '--work-dir', workDir,
    '--run-dir', runDir,
    '--cni-conf-dir', join(base, 'cni'),
    '--log-level', 'debug',
    ...(opts.args ?? []),
  ];
  // `--config` names a file that does not exist: make it optional by writing an empty one.
  const { writeFileSync, mkdirSync } = await import('node:fs');
  mkdirSync(base, { recursive: true });
  writeFileSync(join(base, 'none.yaml'), '');
  const { runtime, image } = connectCri(socket);
  // An answer on the socket must come from the daemon started here, not from one left running on these dirs.
  if (await runtime.call('Version', {}, 1000).then(() => true, () => false)) {
    runtime.close();
    image.close();
    throw new Error(`a daemon already serves ${socket}: stop it before starting another on the same dirs`);
  }
  const child = spawn(process.execPath, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      runtime.close();
      image.close();
      if (!opts.dirs) rmSync(base, { recursive: true, force: true });
      throw new Error(`daemon exited ${child.exitCode}: ${out}`);
    }
    try {
      await runtime.call('Version', {}, 2000);
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        runtime.close();
        image.close();
        child.kill('SIGKILL');
        await waitExit(child);
        if (!opts.dirs) {
          unmountUnder(base);
          rmSync(base, { recursive: true, force: true });
        }
        throw new Error(`daemon did not become ready: ${String(err)}\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // A daemon that dies on its own says why in the test's output (its log is otherwise only in memory).
  let ending = false;
  child.once('exit', (code, signal) => {
    if (!ending) process.stderr.write(`[e2e] mesos-cri daemon ${child.pid} exited on its own (${signal ?? code}); its last output:\n${out.slice(-8000)}\n`);
  });
  const d: Daemon = {
    base,
    socket,
    workDir,
    runDir,
    pid: child.pid!,
    runtime,
    image,
    logs: () => out,
    stop: async () => {
      ending = true;
      runtime.close();
      image.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return waitExit(child);
    },
    kill9: async () => {
      ending = true;
      runtime.close();
      image.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await waitExit(child);
    },
    restart: async (extra) => {
      await d.stop();
      return startDaemon({ ...opts, ...extra, dirs: { base } });
    },
    cleanup: async () => {
      await d.stop();
      unmountUnder(base);
      rmSync(base, { recursive: true, force: true });
    },
  };
  return d;
}
