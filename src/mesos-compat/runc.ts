import { constants, open as openCb } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import { exec as defaultExec, ExecError, type Exec } from '../common/exec';
import { isErrno } from '../common/fsutil';
import { procStat } from '../common/native';
import type { OciResources } from './oci/types';
import type { OciRuntime, OciState } from './oci-runtime';

export interface RuncOptions {
  /** Binary path (runc or crun: same CLI for what we use). */
  readonly path: string;
  readonly name: 'runc' | 'crun';
  readonly root: string;
  readonly exec?: Exec;
  /** runc's `--systemd-cgroup`: `cgroupsPath` is `slice:prefix:name` and runc asks systemd for the scope. */
  readonly systemdCgroup?: boolean;
}

const missing = (err: unknown): boolean =>
  err instanceof ExecError && /does not exist|not found|No such file|error opening file/i.test(err.message);
const notRunning = (err: unknown): boolean =>
  err instanceof ExecError && /not running|process already finished|no such process|container is stopped/i.test(err.message);

const openFd = promisify(openCb);

/** `OciRuntime` over the runc/crun command line. */
export class RuncRuntime implements OciRuntime {
  readonly name: string;
  readonly path: string;
  readonly root: string;
  readonly systemdCgroup: boolean;
  readonly #exec: Exec;

  constructor(opts: RuncOptions) {
    this.name = opts.name;
    this.path = opts.path;
    this.root = opts.root;
    this.systemdCgroup = opts.systemdCgroup ?? false;
    this.#exec = opts.exec ?? defaultExec;
  }

  #args(...rest: string[]): string[] {
    return this.systemdCgroup ? ['--root', this.root, '--systemd-cgroup', ...rest] : ['--root', this.root, ...rest];
  }

  async start(id: string, ctx: Ctx): Promise<void> {
    if (this.name === 'runc' && (await this.#startThroughFifo(id, ctx))) return;
    await this.#exec(this.path, this.#args('start', id), ctx);
  }

  /**
   * What `runc start` does, without its 7 ms of Go start-up: `runc init`
   * waits, after all of its set-up, to open `<root>/<id>/exec.fifo` for
   * writing; a reader lets it write one byte and exec the process, which
   * closes the fifo. runc then removes the fifo, and its state turns from
   * created to running. `false` when there is no fifo (not created, or
   * started already): `runc start` then says what is wrong.
   */
  async #startThroughFifo(id: string, ctx: Ctx): Promise<boolean> {
    const fifo = join(this.root, id, 'exec.fifo');
    // A daemon killed after the hand-off but before it removed the fifo left
    // it behind: the process runs, nobody will ever write the fifo again.
    if ((await this.#execd(id)) === true) {
      await rm(fifo, { force: true });
      throw new CriError('FailedPrecondition', `failed to start container ${id}: cannot start an already running container (it was started already)`);
    }
    let fd: number;
    try {
      fd = await openFd(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
    const got = await new Promise<Buffer>((resolve, reject) => {
      const sock = new Socket({ fd, readable: true, writable: false });
      const chunks: Buffer[] = [];
      // Like runc: if init died before it opened the fifo, nobody ever will.
      const watch = setInterval(() => {
        void this.#initPid(id).then(async (pid) => {
          const st = pid === undefined ? undefined : procStat(pid);
          if (!st || st.state === 'Z') done(new CriError('FailedPrecondition', `failed to start container ${id}: its process is already dead`));
          // Another start (before a restart) handed the fifo off: no writer will come.
          else if ((await this.#execd(id)) === true) done(new CriError('FailedPrecondition', `failed to start container ${id}: cannot start an already running container (it was started already)`));
        });
      }, 100);
      const done = (err?: Error): void => {
        clearInterval(watch);
        ctx.signal.removeEventListener('abort', onAbort);
        sock.destroy();
        if (err) reject(err);
        else resolve(Buffer.concat(chunks));
      };
      const onAbort = (): void => done(ctx.signal.reason as Error);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      sock.on('data', (b: Buffer) => chunks.push(b));
      sock.on('end', () => done());
      sock.on('error', (err) => done(err));
    });
    if (got.length === 0) throw new CriError('FailedPrecondition', `failed to start container ${id}: cannot start an already running container (it was started already)`);
    await rm(fifo, { force: true });
    return true;
  }

  /**
   * Whether the container's init has exec'd its process (no longer `runc
   * init`, whose comm is `runc:[N:...]`); `undefined` when there is no live
   * init. With the exec fifo still there, runc would say "created".
   */
  async #execd(id: string): Promise<boolean | undefined> {
    const pid = await this.#initPid(id);
    if (pid === undefined) return undefined;
    const st = procStat(pid);
    if (!st || st.state === 'Z') return undefined;
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => undefined);
    if (comm === undefined) return undefined;
    return !comm.startsWith('runc:[');
  }

  async #initPid(id: string): Promise<number | undefined> {
    try {
      return (JSON.parse(await readFile(join(this.root, id, 'state.json'), 'utf8')) as { init_process_pid?: number }).init_process_pid;
    } catch {
      return undefined;
    }
  }

  async state(id: string, ctx: Ctx): Promise<OciState | undefined> {
    try {
      const r = await this.#exec(this.path, this.#args('state', id), ctx);
      const st = JSON.parse(r.stdout.toString()) as OciState;
      // runc says "created" while its exec fifo exists; a start cut short after
      // the hand-off leaves it with the process running: finish that start.
      if (this.name === 'runc' && st.status === 'created' && (await this.#execd(id)) === true) {
        await rm(join(this.root, id, 'exec.fifo'), { force: true });
        return { ...st, status: 'running' };
      }
      return st;
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

  async checkpoint(id: string, opts: { imagePath: string; workPath: string }, ctx: Ctx): Promise<void> {
    try {
      await this.#exec(this.path, this.#args('checkpoint', '--image-path', opts.imagePath, '--work-path', opts.workPath, '--leave-running', id), ctx);
    } catch (err) {
      if (missing(err)) throw new CriError('NotFound', `failed to checkpoint container ${id}: not known to ${this.name}`, { cause: err });
      // CRIU says why in its own log, which runc only points at.
      const tail = (await readFile(join(opts.workPath, 'dump.log'), 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => /Error|error/.test(l))
        .slice(-3)
        .join('; ');
      throw new CriError('Internal', `failed to checkpoint container ${id}${tail ? `: ${tail}` : ''}`, { cause: err });
    }
  }
}
