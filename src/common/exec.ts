import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { niceFor, type Ctx } from './ctx';

export interface ExecResult {
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

export interface ExecOptions {
  readonly input?: string | Buffer;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Fail (throw) on a non-zero exit; default true. */
  readonly check?: boolean;
  /**
   * The command's niceness (setpriority(2)); default: `LOW_PRIORITY_NICE`
   * under a low-priority `Ctx`, else the daemon's. A hint:
   * one the kernel refuses leaves the daemon's. Forked from the daemon, it
   * is set just after the fork, so the command's first instructions may
   * run at the daemon's.
   */
  readonly nice?: number;
}

/** Injected process execution, so units can replace it (STYLE.md 12). */
export type Exec = (file: string, args: readonly string[], ctx: Ctx, opts?: ExecOptions) => Promise<ExecResult>;

export class ExecError extends Error {
  constructor(
    readonly file: string,
    readonly args: readonly string[],
    readonly result: ExecResult,
  ) {
    const err = result.stderr.toString().trim() || result.stdout.toString().trim();
    super(`${file} ${args.slice(0, 3).join(' ')} exited ${result.signal ?? result.code}${err ? `: ${err}` : ''}`);
    this.name = 'ExecError';
  }
}

/**
 * Runs a program to completion, forked from this process, collecting its
 * output; aborting the ctx kills it. The daemon injects its spawn server's
 * `exec` instead (`SpawnServer.exec`, `execVia`).
 */
export const exec: Exec = (file, args, ctx, opts = {}) =>
  new Promise<ExecResult>((resolve, reject) => {
    if (ctx.signal.aborted) {
      reject(ctx.signal.reason as Error);
      return;
    }
    const child = spawn(file, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      signal: ctx.signal,
      killSignal: 'SIGKILL',
    });
    const nice = niceFor(ctx, opts.nice);
    if (nice !== undefined && child.pid !== undefined) {
      try {
        setPriority(child.pid, nice);
      } catch {
        // gone already, or refused: it runs at ours
      }
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    child.on('error', (e) => {
      if (ctx.signal.aborted) reject(ctx.signal.reason as Error);
      else reject(e);
    });
    child.on('close', (code, signal) => {
      const result: ExecResult = { code: code ?? -1, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
      if (ctx.signal.aborted) reject(ctx.signal.reason as Error);
      else if ((opts.check ?? true) && (code !== 0 || signal)) reject(new ExecError(file, args, result));
      else resolve(result);
    });
  });
