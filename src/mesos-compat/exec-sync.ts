import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import type { ExecSyncResult } from './containerizer';
import type { Core } from './core';
import type { OciSpec } from './oci/types';
import type { ContainerRecord } from './state';

/** Output beyond this per stream is dropped (kubelet caps probe output at 16 KiB anyway). */
export const EXEC_OUTPUT_CAP = 16 * 1024 * 1024;

/** The container's process spec with `cmd` as its args and no terminal: what `runtime exec --process` takes. */
export async function execProcessFile(core: Core, c: ContainerRecord, cmd: readonly string[], tty: boolean): Promise<string> {
  const bundle = core.bundleOf(c);
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as OciSpec;
  const file = join(bundle, `exec-${randomBytes(6).toString('hex')}.json`);
  await writeFile(file, JSON.stringify({ ...spec.process, args: [...cmd], terminal: tty }));
  return file;
}

/**
 * ExecSync: `runtime exec` in the container with captured, bounded output.
 * On timeout the exec'd process itself is killed (killing `runc exec` would
 * orphan it inside the container), and the call fails with DeadlineExceeded.
 */
export async function execSync(core: Core, c: ContainerRecord, cmd: readonly string[], opts: { timeoutSeconds: number }, ctx: Ctx): Promise<ExecSyncResult> {
  if (cmd.length === 0) throw new CriError('InvalidArgument', 'failed to exec: cmd is empty');
  const rt = core.deps.runtime;
  const processFile = await execProcessFile(core, c, cmd, false);
  const pidFile = `${processFile}.pid`;
  try {
    const child = spawn(rt.path, rt.execArgs(c.id, { processFile, tty: false, pidFile }), { stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (stream: NodeJS.ReadableStream, out: Buffer[]): void => {
      let n = 0;
      stream.on('data', (b: Buffer) => {
        if (n >= EXEC_OUTPUT_CAP) return;
        out.push(b.subarray(0, EXEC_OUTPUT_CAP - n));
        n += b.length;
      });
    };
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    collect(child.stdout, stdout);
    collect(child.stderr, stderr);
    let timedOut = false;
    let aborted = false;
    const killInner = async (): Promise<void> => {
      const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      } else {
        child.kill('SIGKILL');
      }
    };
    const timer = opts.timeoutSeconds > 0 ? setTimeout(() => ((timedOut = true), void killInner()), opts.timeoutSeconds * 1000) : undefined;
    const onAbort = (): void => {
      aborted = true;
      void killInner();
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c2, sig) => resolve(c2 ?? (sig ? 128 : -1)));
    }).finally(() => {
      if (timer) clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
    });
    if (timedOut) throw new CriError('DeadlineExceeded', `failed to exec in container ${c.id}: command timed out after ${opts.timeoutSeconds}s`);
    if (aborted) throw new CriError('Canceled', `failed to exec in container ${c.id}: cancelled`);
    return { exitCode: code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
  } finally {
    await rm(processFile, { force: true });
    await rm(pidFile, { force: true });
  }
}
