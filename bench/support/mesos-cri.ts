/**
 * Our daemon for benchmarks: `node <repo>/dist/src/main.js` on temp dirs.
 *
 * NOTE: this does what `e2e/support/daemon.ts` `startDaemon` does, because
 * that helper finds `main.js` relative to its own file, which is wrong once
 * compiled (from `dist/e2e/support` it looks for `dist/dist/src/main.js`),
 * and benchmarks run compiled. Here the repo root is found by walking up to
 * `package.json`, which works from both trees.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from './cri';
import { unmountUnder } from './host';

export function repoRoot(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    if (dirname(dir) === dir) throw new Error(`failed to find the repository root above ${from}`);
  }
}

export interface MesosCriProcess {
  readonly base: string;
  readonly socket: string;
  readonly pid: number;
  logs(): string;
  /** SIGTERM and wait for exit (containers are left running, by design). */
  stop(): Promise<void>;
}

export async function startMesosCri(opts: { args?: readonly string[]; env?: Readonly<Record<string, string>> } = {}): Promise<MesosCriProcess> {
  const mainJs = join(repoRoot(), 'dist', 'src', 'main.js');
  if (!existsSync(mainJs)) throw new Error(`failed to find ${mainJs}: build with \`npx tsc -p tsconfig.json\` first`);
  const base = mkdtempSync(join(tmpdir(), 'mcri-bench-'));
  const socket = join(base, 'run', 'mesos-cri.sock');
  mkdirSync(join(base, 'cni'), { recursive: true });
  writeFileSync(join(base, 'none.yaml'), '');
  const args = [
    // MESOS_CRI_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": flags for node itself.
    ...(process.env.MESOS_CRI_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    mainJs,
    '--config', join(base, 'none.yaml'),
    '--socket', socket,
    '--work-dir', join(base, 'lib'),
    '--run-dir', join(base, 'run'),
    '--cni-conf-dir', join(base, 'cni'),
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  // MESOS_CRI_BENCH_LOG=<file>: the daemon's whole log, e.g. with MESOS_CRI_TRACE=lifecycle for per-step timings.
  const logFile = process.env.MESOS_CRI_BENCH_LOG;
  const keep = (b: Buffer): void => {
    out = (out + b.toString()).slice(-64_000);
    if (logFile) appendFileSync(logFile, b);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  const probe = connect(socket);
  try {
    await waitServing(probe.runtime.call.bind(probe.runtime), child, () => out);
  } catch (err) {
    await stop();
    unmountUnder(base);
    rmSync(base, { recursive: true, force: true });
    throw err;
  } finally {
    probe.close();
  }
  return { base, socket, pid: child.pid!, logs: () => out, stop };
}

async function waitServing(call: (rpc: string, req: object, ms: number) => Promise<unknown>, child: ChildProcess, out: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mesos-cri exited ${child.exitCode}: ${out()}`);
    try {
      // Version answers only after recovery (the wrapper says UNAVAILABLE until then).
      await call('Version', {}, 2_000);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`mesos-cri did not become ready: ${String(err)}\n${out()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
