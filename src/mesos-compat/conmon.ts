import { spawn } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Ctx } from '../common/ctx';
import { withTimeout } from '../common/ctx';
import { CriError } from '../common/errors';
import { isErrno } from '../common/fsutil';
import type { SpawnServer } from '../common/spawn-server';
import type { ExitStatus, Monitor, MonitorCreateRequest } from './monitor';
import type { OciRuntime } from './oci-runtime';

export interface ConmonOptions {
  readonly path: string;
  /** With `for`, the runtime of each container's pod (`RuntimeSet`: named runtime handlers); `systemdCgroup`: the node's cgroup driver is systemd. */
  readonly runtime: Pick<OciRuntime, 'path' | 'root'> & { for?(id: string): Pick<OciRuntime, 'path' | 'root'>; readonly systemdCgroup?: boolean };
  readonly exitDir: string;
  readonly socketDir: string;
  /** Bound on conmon + `runtime create`; CRI-O waits 240 s. */
  readonly createTimeoutMs?: number;
  /** The daemon's spawn server, which starts conmon without forking the daemon; absent: spawned here. */
  readonly spawnServer?: SpawnServer;
}

interface SyncMessage {
  readonly data: number;
  readonly message?: string;
}

/** conmon's report: one JSON line with the pid (`data` > 0) or an error. */
function parseSyncMessage(text: string, stderr: string): SyncMessage {
  const nl = text.indexOf('\n');
  if (nl < 0) throw new Error(`conmon closed its sync pipe without reporting a pid${text || stderr ? `: ${(text + stderr).trim()}` : ''}`);
  try {
    const msg = JSON.parse(text.slice(0, nl)) as SyncMessage;
    return { ...msg, message: msg.message ?? stderr };
  } catch (err) {
    throw new Error(`failed to parse conmon's message ${JSON.stringify(text)}`, { cause: err });
  }
}

/** Reads the first newline-terminated JSON message from conmon's sync pipe. */
function readSyncMessage(pipe: Readable, signal: AbortSignal): Promise<SyncMessage> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (fn: () => void): void => {
      pipe.off('data', onData);
      pipe.off('end', onEnd);
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const onData = (b: Buffer): void => {
      buf += b.toString();
      if (!buf.includes('\n')) return;
      try {
        const msg = parseSyncMessage(buf, '');
        done(() => resolve(msg));
      } catch (err) {
        done(() => reject(err as Error));
      }
    };
    const onEnd = (): void => done(() => reject(new Error(`conmon closed its sync pipe without reporting a pid${buf ? `: ${buf}` : ''}`)));
    const onAbort = (): void => done(() => reject(signal.reason as Error));
    pipe.on('data', onData);
    pipe.on('end', onEnd);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * `Monitor` over Debian's conmon 2.1.6 (see notes §1): daemonizes, becomes
 * the container's parent and subreaper, runs `runtime create`, reports the
 * pid on fd 3, writes the k8s-file log and `<persist>/exit`.
 */
export class ConmonMonitor implements Monitor {
  readonly #opts: ConmonOptions;
  /** The exit and socket dirs all conmons share, made once. */
  #sharedDirs: Promise<void> | undefined;

  constructor(opts: ConmonOptions) {
    this.#opts = opts;
  }

  async create(req: MonitorCreateRequest, ctx: Ctx): Promise<{ pid: number }> {
    this.#sharedDirs ??= Promise.all([mkdir(this.#opts.exitDir, { recursive: true }), mkdir(this.#opts.socketDir, { recursive: true })]).then(
      () => undefined,
      (err: unknown) => {
        this.#sharedDirs = undefined;
        throw err;
      },
    );
    await Promise.all([mkdir(req.persistDir, { recursive: true }), this.#sharedDirs]);
    const runtime = this.#opts.runtime.for?.(req.id) ?? this.#opts.runtime;
    const args = [
      '--api-version',
      '-c', req.id,
      '-u', req.id,
      '-n', req.id,
      '-r', runtime.path,
      '-b', req.bundle,
      '-p', join(req.bundle, 'pidfile'),
      '-P', join(req.bundle, 'conmon-pidfile'),
      '-l', req.logPath ? `k8s-file:${req.logPath}` : 'none',
      '--exit-dir', this.#opts.exitDir,
      '--socket-dir-path', this.#opts.socketDir,
      '--persist-dir', req.persistDir,
      '--runtime-arg', `--root=${runtime.root}`,
      ...(this.#opts.runtime.systemdCgroup ? ['--runtime-arg', '--systemd-cgroup'] : []),
      '--log-level', 'error',
      // conmon otherwise calls sync(2) (every filesystem) when the container
      // exits; kubelet reads the log through the page cache anyway.
      '--no-sync-log',
    ];
    if (req.tty) args.push('-t');
    if (req.stdin) {
      args.push('-i');
      if (!req.stdinOnce) args.push('--leave-stdin-open');
    }
    const bounded = withTimeout(ctx, this.#opts.createTimeoutMs ?? 240_000);
    const env = { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' };
    const server = this.#opts.spawnServer;
    const msg = server ? await this.#viaServer(server, args, env, req, bounded.signal) : await this.#viaSpawn(args, env, req, bounded.signal);
    if (msg.data <= 0) {
      throw new CriError('Internal', `failed to create container ${req.id}: ${(msg.message ?? '').trim()}`);
    }
    return { pid: msg.data };
  }

  /**
   * conmon from the daemon's spawn server: forking this process for each
   * container costs 3 ms of its CPU and event loop.
   */
  async #viaServer(server: SpawnServer, args: string[], env: NodeJS.ProcessEnv, req: MonitorCreateRequest, signal: AbortSignal): Promise<SyncMessage> {
    const m = server.monitor(this.#opts.path, args, { signal }, { env, cwd: req.bundle });
    m.done.catch(() => undefined);
    m.go();
    const r = await m.done;
    signal.throwIfAborted();
    return parseSyncMessage(r.stdout.toString(), r.stderr.toString());
  }

  async #viaSpawn(args: string[], env: NodeJS.ProcessEnv, req: MonitorCreateRequest, signal: AbortSignal): Promise<SyncMessage> {
    const child = spawn(this.#opts.path, args, {
      cwd: req.bundle,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      env,
      detached: true,
    });
    const stderr: Buffer[] = [];
    child.stderr!.on('data', (b: Buffer) => stderr.push(b));
    child.stdout!.resume();
    const sync = child.stdio[3] as Readable;
    const startPipe = child.stdio[4] as NodeJS.WritableStream;
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', resolve);
    });
    try {
      await spawned;
      // conmon blocks on the start pipe until we let it go (CRI-O moves it
      // into a cgroup first; we leave it in the daemon's).
      startPipe.write('\0');
      const msg = await readSyncMessage(sync, signal);
      return { ...msg, message: msg.message ?? Buffer.concat(stderr).toString() };
    } finally {
      // conmon's first process exits right after forking the daemonized one;
      // drop our ends so neither side waits on the other.
      sync.destroy();
      child.stdio[4]?.destroy();
      child.stdout!.destroy();
      child.stderr!.destroy();
      child.unref();
    }
  }

  async exitStatus(req: { bundle: string; persistDir: string }): Promise<ExitStatus | undefined> {
    // Asked after every start and while stopping: plain system calls, no
    // ENOENT exception for the usual "not yet".
    const file = join(req.persistDir, 'exit');
    const st = statSync(file, { bigint: true, throwIfNoEntry: false });
    if (!st) return undefined;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    // conmon writes the file in one write; an empty file is a write in flight.
    if (text.trim() === '') return undefined;
    const code = Number.parseInt(text.trim(), 10);
    const oomKilled = existsSync(join(req.bundle, 'oom'));
    return { code: Number.isFinite(code) ? code : 255, at: st.ctimeNs, oomKilled };
  }

  async reopenLog(bundle: string, ctx: Ctx): Promise<void> {
    ctx.signal.throwIfAborted();
    // Without the thread pool: neither call can wait. O_NONBLOCK: opening a
    // FIFO for writing with no reader fails with ENXIO instead of hanging
    // when conmon is gone, and six bytes fit in any FIFO's buffer or fail with EAGAIN.
    let fd: number;
    try {
      fd = openSync(this.controlFifo(bundle), constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      throw new CriError('FailedPrecondition', 'failed to reopen container log: the container monitor is not running', { cause: err });
    }
    try {
      writeSync(fd, '2 0 0\n');
    } finally {
      closeSync(fd);
    }
  }

  attachSocket(bundle: string): string {
    return join(bundle, 'attach');
  }

  controlFifo(bundle: string): string {
    return join(bundle, 'ctl');
  }
}

/** Removes the files conmon leaves in the shared dirs for `id` (idempotent). */
export async function removeMonitorFiles(opts: { exitDir: string; socketDir: string }, id: string): Promise<void> {
  await rm(join(opts.exitDir, id), { force: true });
  await rm(join(opts.socketDir, id), { force: true, recursive: false }).catch(() => undefined);
}
