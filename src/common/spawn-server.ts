import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants as fsc, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { niceFor, type Ctx } from './ctx';
import { exec as forkExec, ExecError, type Exec, type ExecOptions, type ExecResult } from './exec';

/** umount2(2)'s lazy flag, for `SpawnServer.umount`. */
export const MNT_DETACH = 2;

/**
 * The client of `native/mesos-cri-spawn`, which forks short commands for
 * the daemon (see its header for the wire format). `run` resolves like
 * `child_process` would report the command: its exit, or an `Error` with
 * the errno's `code` when it could not be started.
 */
export class SpawnServer {
  readonly #path: string;
  #child: ChildProcess | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (r: ExecResult) => void; reject: (e: Error) => void; started?: (pid: number, fds: string) => void }>();

  constructor(path: string) {
    this.#path = path;
  }

  /** `Exec` through this server: the same contract as `common/exec`'s, without forking the daemon. */
  readonly exec: Exec = async (file, args, ctx, opts = {}) => {
    ctx.signal.throwIfAborted();
    const result = await this.run(file, args, ctx, opts);
    ctx.signal.throwIfAborted();
    if ((opts.check ?? true) && (result.code !== 0 || result.signal)) throw new ExecError(file, args, result);
    return result;
  };

  run(file: string, args: readonly string[], ctx: Ctx, opts: ExecOptions = {}): Promise<ExecResult> {
    const nice = niceFor(ctx, opts.nice);
    if (nice === undefined) return this.#request(1, this.#runBody(file, args, opts), ctx);
    const n = Buffer.alloc(4);
    n.writeInt32LE(nice);
    return this.#request(10, Buffer.concat([n, this.#runBody(file, args, opts)]), ctx);
  }

  #runBody(file: string, args: readonly string[], opts: ExecOptions): Buffer {
    const env = opts.env ? Object.entries(opts.env).filter((e): e is [string, string] => e[1] !== undefined).map(([k, v]) => `${k}=${v}`) : undefined;
    return Buffer.concat([
      u32(args.length + 1),
      ...[file, ...args].map(str),
      env ? Buffer.concat([u32(env.length), ...env.map(str)]) : u32(0xffffffff),
      str(opts.cwd ?? ''),
      str(opts.input ?? ''),
    ]);
  }

  /**
   * Starts a container monitor with conmon's pipes (see the server's
   * header): it waits on its start pipe until `go`; `done` resolves once
   * the first process exited and the monitor reported on its sync pipe,
   * with that report as `stdout`.
   */
  monitor(file: string, args: readonly string[], ctx: Ctx, opts: Pick<ExecOptions, 'env' | 'cwd'> = {}): { go(): void; kill(): void; done: Promise<ExecResult> } {
    let id = 0;
    const done = this.#request(6, this.#runBody(file, args, opts), ctx, (i) => (id = i));
    return {
      go: () => this.#child?.stdin!.write(frame(this.#nextId++, 7, u32(id))),
      kill: () => this.#child?.stdin!.write(frame(id, 2, u32(id))),
      done,
    };
  }

  /**
   * Starts `file` in a session of its own with a pipe on each fd of 0-4
   * that `pipes` names (it reads fds 0 and 3, writes 1, 2 and 4; fds 0-2 not
   * named are /dev/null), as `child_process.spawn` with `detached` would,
   * without forking the daemon. Resolves once it exec'd, with our ends of
   * its pipes, taken over from the server; rejects like a spawn 'error'.
   */
  piped(file: string, args: readonly string[], pipes: readonly number[], ctx: Ctx): Promise<PipedChild> {
    const mask = pipes.reduce((m, fd) => m | (1 << fd), 0);
    return new Promise((resolve, reject) => {
      let id = 0;
      let child: PipedChild | undefined;
      const exited = this.#request(8, Buffer.concat([this.#runBody(file, args, {}), u32(mask)]), ctx, (i) => (id = i), (pid, fds) => {
        const server = this.#child?.pid;
        const stdio = fds.split(' ').map((n, i) => (Number(n) >= 0 && server !== undefined ? adopt(`/proc/${server}/fd/${n}`, i === 0 || i === 3) : null));
        this.#child?.stdin!.write(frame(this.#nextId++, 9, u32(id)));
        child = new PipedChild(pid, stdio, () => this.#child?.stdin!.write(frame(this.#nextId++, 2, u32(id))));
        resolve(child);
      });
      exited.then(
        (r) => child?.exited(r),
        (err: unknown) => (child ? child.exited({ code: -1, signal: 'SIGKILL', stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) }) : reject(err as Error)),
      );
    });
  }

  /** mount(2) done by the server; rejects with the errno's `code`. */
  async mount(m: { source: string; target: string; fstype: string; flags?: number; data?: string }, ctx: Ctx): Promise<void> {
    await this.#request(3, Buffer.concat([str(m.source), str(m.target), str(m.fstype), u32(m.flags ?? 0), str(m.data ?? '')]), ctx);
  }

  /** umount2(2) done by the server; rejects with the errno's `code`. */
  async umount(target: string, flags: number, ctx: Ctx): Promise<void> {
    await this.#request(4, Buffer.concat([str(target), u32(flags)]), ctx);
  }

  /**
   * Keeps the kernel's cgroup migration lock warm for `ms` (see the
   * server's header) by moving the server into its own cgroup through
   * `procsFile` every few ms. Fire and forget.
   */
  warm(procsFile: string, ms: number): void {
    this.#ensure().stdin!.write(frame(this.#nextId++, 5, Buffer.concat([str(procsFile), u32(ms)])));
  }

  #request(op: number, body: Buffer, ctx: Ctx, onId?: (id: number) => void, started?: (pid: number, fds: string) => void): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const child = this.#ensure();
      const id = this.#nextId++;
      onId?.(id);
      const onAbort = (): void => {
        child.stdin?.write(frame(id, 2, u32(id)));
      };
      this.#pending.set(id, {
        resolve: (r) => {
          ctx.signal.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          ctx.signal.removeEventListener('abort', onAbort);
          reject(e);
        },
        started,
      });
      this.#ref(true);
      child.stdin!.write(frame(id, op, body));
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #ensure(): ChildProcess {
    if (this.#child) return this.#child;
    const child = spawn(this.#path, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#child = child;
    child.stdin!.on('error', () => undefined);
    child.stdout!.on('data', (b: Buffer) => this.#onData(b));
    const gone = (why: string): void => {
      if (this.#child !== child) return;
      this.#child = undefined;
      this.#buf = Buffer.alloc(0);
      for (const p of this.#pending.values()) p.reject(new Error(`failed to run a command: ${why}`));
      this.#pending.clear();
    };
    child.once('error', (e) => gone(`${this.#path}: ${e.message}`));
    child.once('exit', (code, signal) => gone(`${this.#path} exited ${code ?? signal}`));
    return child;
  }

  /** The server only keeps the daemon's event loop alive while commands run. */
  #ref(on: boolean): void {
    const c = this.#child;
    if (!c) return;
    const socks = [c.stdin, c.stdout] as unknown as Array<{ ref?: () => void; unref?: () => void } | null>;
    if (on) {
      c.ref();
      for (const s of socks) s?.ref?.();
    } else {
      c.unref();
      for (const s of socks) s?.unref?.();
    }
  }

  #onData(b: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, b]) : b;
    while (this.#buf.length >= 4) {
      const len = this.#buf.readUInt32LE(0);
      if (this.#buf.length < 4 + len) return;
      const f = this.#buf.subarray(4, 4 + len);
      this.#buf = this.#buf.subarray(4 + len);
      const id = f.readUInt32LE(0);
      const kind = f.readInt32LE(4);
      const code = f.readInt32LE(8);
      const outLen = f.readUInt32LE(12);
      const stdout = Buffer.from(f.subarray(16, 16 + outLen));
      const errLen = f.readUInt32LE(16 + outLen);
      const stderr = Buffer.from(f.subarray(20 + outLen, 20 + outLen + errLen));
      const p = this.#pending.get(id);
      if (!p) continue;
      if (kind === 4) {
        p.started?.(code, stdout.toString());
        continue;
      }
      this.#pending.delete(id);
      if (this.#pending.size === 0) this.#ref(false);
      if (kind === 2 || kind === 3) {
        const name = errnoName(code);
        p.reject(Object.assign(new Error(`${kind === 2 ? 'spawn' : 'system call'} failed: ${name}`), { code: name, errno: -code }));
      } else {
        p.resolve({ code: kind === 0 ? code : -1, signal: kind === 1 ? signalName(code) : null, stdout, stderr });
      }
    }
  }
}

/**
 * A command `SpawnServer.piped` started: its pid (its process group too),
 * our ends of its pipes by its fd number (null where it has none, or where
 * it had already closed its end), 'exit' (code, signal) and then 'close'
 * (code, signal) once it exited and the pipes it writes are closed, as a
 * `ChildProcess`. The exit comes after the start resolved, never in the
 * same turn: the server reports it only once we released the pipes.
 */
export class PipedChild extends EventEmitter {
  #open = 1;
  #exit: [number | null, NodeJS.Signals | null] = [null, null];
  #exited = false;

  constructor(
    readonly pid: number,
    readonly stdio: ReadonlyArray<Socket | null>,
    private readonly killer: () => void,
  ) {
    super();
    for (const [i, s] of stdio.entries()) {
      s?.on('error', () => undefined);
      if (s && i !== 0 && i !== 3) {
        this.#open++;
        s.once('close', () => this.#closed());
      }
    }
  }

  get stdin(): Socket | null {
    return this.stdio[0] ?? null;
  }

  get stdout(): Socket | null {
    return this.stdio[1] ?? null;
  }

  get stderr(): Socket | null {
    return this.stdio[2] ?? null;
  }

  /** SIGKILL, by the server, which knows whether it is still running (no pid reused by then is hit). */
  kill(): void {
    if (!this.#exited) this.killer();
  }

  /** @internal the server's reply to the run */
  exited(r: ExecResult): void {
    this.#exited = true;
    this.#exit = [r.signal ? null : r.code, r.signal];
    this.emit('exit', ...this.#exit);
    this.#closed();
  }

  #closed(): void {
    if (--this.#open === 0) this.emit('close', ...this.#exit);
  }
}

/** Our own fd on a pipe the server holds, as a stream; null when its reader is gone already. */
function adopt(path: string, write: boolean): Socket | null {
  try {
    const fd = openSync(path, (write ? fsc.O_WRONLY : fsc.O_RDONLY) | fsc.O_NONBLOCK);
    return new Socket({ fd, readable: !write, writable: write });
  } catch {
    return null;
  }
}

/** How commands are run: through `server` when the daemon has one, else forked from this process. */
export const execVia = (server: SpawnServer | undefined): Exec => server?.exec ?? forkExec;

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([u32(b.length), b]);
};
const frame = (id: number, op: number, body: Buffer): Buffer => Buffer.concat([u32(4 + 1 + body.length), u32(id), Buffer.from([op]), body]);

const ERRNO = new Map(Object.entries(constants.errno).map(([k, v]) => [v, k]));
const errnoName = (n: number): string => ERRNO.get(n) ?? `errno ${n}`;
const SIGNALS = new Map(Object.entries(constants.signals).map(([k, v]) => [v, k as NodeJS.Signals]));
const signalName = (n: number): NodeJS.Signals => SIGNALS.get(n) ?? 'SIGKILL';
