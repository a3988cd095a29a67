import { spawn } from 'node:child_process';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import { exec as defaultExec, ExecError, type Exec } from '../common/exec';
import type { OciResources } from './oci/types';
import type { OciRuntime, OciState } from './oci-runtime';

export interface RuncOptions {
  /** Binary path (runc or crun: same CLI for what we use). */
  readonly path: string;
  readonly name: 'runc' | 'crun';
  readonly root: string;
  readonly exec?: Exec;
}

const missing = (err: unknown): boolean =>
  err instanceof ExecError && /does not exist|not found|No such file|error opening file/i.test(err.message);
const notRunning = (err: unknown): boolean =>
  err instanceof ExecError && /not running|process already finished|no such process|container is stopped/i.test(err.message);

/** `OciRuntime` over the runc/crun command line. */
export class RuncRuntime implements OciRuntime {
  readonly name: string;
  readonly path: string;
  readonly root: string;
  readonly #exec: Exec;

  constructor(opts: RuncOptions) {
    this.name = opts.name;
    this.path = opts.path;
    this.root = opts.root;
    this.#exec = opts.exec ?? defaultExec;
  }

  #args(...rest: string[]): string[] {
    return ['--root', this.root, ...rest];
  }

  async run(id: string, bundle: string, opts: { pidFile: string }, ctx: Ctx): Promise<void> {
    // The detached process inherits runc's stdio; with pipes the
    // container would hold them open forever, so all three are /dev/null and
    // runc's errors go to a log file instead.
    const logFile = join(bundle, 'runc.log');
    await rm(logFile, { force: true });
    const args = ['--log', logFile, '--log-format', 'json', ...this.#args('run', '--detach', '--bundle', bundle, '--pid-file', opts.pidFile, id)];
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(this.path, args, { stdio: 'ignore', signal: ctx.signal, killSignal: 'SIGKILL' });
      child.on('error', reject);
      child.on('exit', (c, s) => resolve(c ?? (s ? 128 : -1)));
    });
    if (code !== 0) {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      const msgs = text
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          try {
            return (JSON.parse(l) as { msg?: string; level?: string }).level === 'error' ? (JSON.parse(l) as { msg: string }).msg : '';
          } catch {
            return l;
          }
        })
        .filter(Boolean);
      throw new CriError('Internal', `failed to run infra container ${id}: ${this.name} exited ${code}: ${msgs.join('; ')}`);
    }
  }

  async start(id: string, ctx: Ctx): Promise<void> {
    await this.#exec(this.path, this.#args('start', id), ctx);
  }

  async state(id: string, ctx: Ctx): Promise<OciState | undefined> {
    try {
      const r = await this.#exec(this.path, this.#args('state', id), ctx);
      return JSON.parse(r.stdout.toString()) as OciState;
    } catch (err) {
      if (missing(err)) return undefined;
      throw err;
    }
  }

  async list(ctx: Ctx): Promise<OciState[]> {
    const r = await this.#exec(this.path, this.#args('list', '--format', 'json'), ctx);
    const text = r.stdout.toString().trim();
    if (!text || text === 'null') return [];
    return JSON.parse(text) as OciState[];
  }

  async kill(id: string, signal: string, ctx: Ctx, opts: { all?: boolean } = {}): Promise<boolean> {
    try {
      await this.#exec(this.path, this.#args('kill', ...(opts.all ? ['--all'] : []), id, signal), ctx);
      return true;
    } catch (err) {
      if (missing(err) || notRunning(err)) return false;
      throw err;
    }
  }

  async delete(id: string, ctx: Ctx): Promise<boolean> {
    // `runc delete --force` of an unknown id exits 0 silently: look first.
    // Both runc and crun keep a container's state in `<root>/<id>`; a stat
    // is cheaper than a `runtime state` process.
    const existed = await stat(join(this.root, id)).then(
      () => true,
      () => false,
    );
    if (!existed) return false;
    try {
      await this.#exec(this.path, this.#args('delete', '--force', id), ctx);
    } catch (err) {
      if (!missing(err)) throw err;
    }
    return existed;
  }

  async update(id: string, resources: OciResources, ctx: Ctx): Promise<void> {
    try {
      await this.#exec(this.path, this.#args('update', '--resources', '-', id), ctx, { input: JSON.stringify(resources) });
    } catch (err) {
      if (missing(err)) throw new CriError('NotFound', `failed to update container ${id}: not known to ${this.name}`, { cause: err });
      throw err;
    }
  }

  execArgs(id: string, opts: { processFile: string; tty: boolean; pidFile?: string; consoleSocket?: string; detach?: boolean }): string[] {
    return this.#args(
      'exec',
      '--process',
      opts.processFile,
      ...(opts.detach ? ['--detach'] : []),
      ...(opts.tty ? ['--tty'] : []),
      ...(opts.pidFile ? ['--pid-file', opts.pidFile] : []),
      ...(opts.consoleSocket ? ['--console-socket', opts.consoleSocket] : []),
      id,
    );
  }
}
