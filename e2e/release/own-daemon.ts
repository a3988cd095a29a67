import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageServiceClient } from '../../cri/generated/runtime/v1/ImageService';
import type { RuntimeServiceClient } from '../../cri/generated/runtime/v1/RuntimeService';
import { ensureBuilt, MAIN_JS } from '../support/build';
import { connectCri, type CriClient } from '../support/cri-client';
import { unmountUnder } from '../support/daemon';

/**
 * The daemon started the way an operator starts it: only the flags given
 * (no test defaults that would override the config file), on a private base
 * dir. `cmd` replaces `node dist/src/main.js` (e.g. an installed package).
 */
export interface OwnDaemon {
  readonly base: string;
  readonly socket: string;
  readonly child: ChildProcess;
  readonly runtime: CriClient<RuntimeServiceClient>;
  readonly image: CriClient<ImageServiceClient>;
  logs(): string;
  waitLog(re: RegExp, ms?: number): Promise<string>;
  cleanup(): Promise<void>;
}

export function privateBase(prefix = 'mcri16-'): string {
  const base = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(base, 'run'), { recursive: true });
  return base;
}

/** Flags that keep a daemon on `base`: socket, work and run dirs. */
export const privateDirs = (base: string): string[] => ['--socket', join(base, 'run', 'mesos-cri.sock'), '--work-dir', join(base, 'lib'), '--run-dir', join(base, 'run')];

export async function startOwnDaemon(
  base: string,
  args: readonly string[],
  opts: { cmd?: readonly string[]; env?: Record<string, string>; socket?: string; cwd?: string } = {},
): Promise<OwnDaemon> {
  if (!opts.cmd) ensureBuilt();
  const socket = opts.socket ?? join(base, 'run', 'mesos-cri.sock');
  const [exe, ...pre] = opts.cmd ?? [process.execPath, MAIN_JS];
  const child = spawn(exe!, [...pre, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const { runtime, image } = connectCri(socket);
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  const cleanup = async (): Promise<void> => {
    runtime.close();
    image.close();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    unmountUnder(base);
    rmSync(base, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await cleanup();
      throw new Error(`daemon exited ${child.exitCode}: ${out}`);
    }
    try {
      await runtime.call('Version', {}, 2000);
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await cleanup();
        throw new Error(`daemon did not become ready: ${String(err)}\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const waitLog = async (re: RegExp, ms = 10_000): Promise<string> => {
    const end = Date.now() + ms;
    for (;;) {
      const line = out.split('\n').find((l) => re.test(l));
      if (line) return line;
      if (Date.now() > end) throw new Error(`no log line matching ${re}:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { base, socket, child, runtime, image, logs: () => out, waitLog, cleanup };
}
