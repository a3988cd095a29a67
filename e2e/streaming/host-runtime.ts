/**
 * A `StreamRuntime` over plain host processes, for driving the streaming
 * server with real clients without containers: exec spawns the command on
 * the host (through a Python pty helper when tty), "containers" for attach
 * are long-running host processes the test starts, and port-forward dials
 * 127.0.0.1. It honours the runtime contract the server relies on: abort
 * kills, output fan-out never blocks, stdin_once semantics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import { join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Ctx } from '../../src/common/ctx';
import { CriError } from '../../src/common/errors';
import type { StreamIO, StreamRuntime, TerminalSize } from '../../src/streaming/runtime';

const PTY_HELPER = join(__dirname, 'pty-helper.py');

/** Spawns `cmd` in its own process group, on a pty when `tty`. */
function spawnProcess(cmd: readonly string[], tty: boolean): ChildProcess {
  return tty
    ? spawn('python3', [PTY_HELPER, ...cmd], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], detached: true })
    : spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function applyResizes(child: ChildProcess, sizes: AsyncIterable<TerminalSize>, seen: TerminalSize[]): Promise<void> {
  const ctl = child.stdio[3] as Writable | null;
  for await (const s of sizes) {
    seen.push(s);
    if (ctl && !ctl.destroyed) ctl.write(`${s.height} ${s.width}\n`);
  }
}

interface FakeContainer {
  readonly id: string;
  readonly child: ChildProcess;
  readonly tty: boolean;
  readonly stdinOnce: boolean;
  readonly clients: Set<{ stdout?: Writable; stderr?: Writable }>;
  /** The tail of what the container wrote, for assertions. */
  output: string;
  exited: Promise<number>;
  stdinClaimed: boolean;
}

export class HostRuntime implements StreamRuntime {
  /** Every process this runtime started that has not exited yet, by PID. */
  readonly live = new Set<number>();
  readonly resizes: TerminalSize[] = [];
  readonly containers = new Map<string, FakeContainer>();
  execCount = 0;

  #track(child: ChildProcess): Promise<number> {
    const pid = child.pid!;
    this.live.add(pid);
    return new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.live.delete(pid);
        resolve(code ?? (signal ? 128 + 9 : 255));
      });
    });
  }

  async exec(containerId: string, cmd: readonly string[], io: StreamIO, ctx: Ctx): Promise<number> {
    if (containerId === 'missing') throw new CriError('NotFound', `failed to exec in container ${containerId}: not found`);
    this.execCount++;
    const child = spawnProcess(cmd, io.tty);
    const exited = this.#track(child);
    const onAbort = (): void => killGroup(child);
    ctx.signal.addEventListener('abort', onAbort);
    if (ctx.signal.aborted) onAbort();
    try {
      child.stdin!.on('error', () => undefined);
      if (io.stdin) io.stdin.pipe(child.stdin!);
      else child.stdin!.end();
      // Exec output honours the client's backpressure (`pipe`), like kubelet.
      if (io.stdout) child.stdout!.pipe(io.stdout, { end: false });
      else child.stdout!.resume();
      if (io.stderr) child.stderr!.pipe(io.stderr, { end: false });
      else child.stderr!.resume();
      if (io.resize) void applyResizes(child, io.resize, this.resizes);
      return await exited;
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      if (io.stdin) io.stdin.unpipe(child.stdin!);
    }
  }

  /** Starts a fake container: a long-running host process whose stdio attach serves. */
  startContainer(id: string, cmd: readonly string[], opts: { tty?: boolean; stdinOnce?: boolean } = {}): FakeContainer {
    const child = spawnProcess(cmd, opts.tty ?? false);
    const c: FakeContainer = {
      id,
      child,
      tty: opts.tty ?? false,
      stdinOnce: opts.stdinOnce ?? false,
      clients: new Set(),
      output: '',
      exited: this.#track(child),
      stdinClaimed: false,
    };
    child.stdin!.on('error', () => undefined);
    const fan = (which: 'stdout' | 'stderr') => (b: Buffer) => {
      c.output = (c.output + b.toString()).slice(-65536);
      for (const cl of c.clients) {
        const w = c.tty ? cl.stdout : cl[which];
        // Fan-out never waits for a client (the server's attach writers never push back).
        if (w && !w.destroyed && !w.writableEnded) w.write(b);
      }
    };
    child.stdout!.on('data', fan('stdout'));
    child.stderr!.on('data', fan('stderr'));
    this.containers.set(id, c);
    return c;
  }

  async stopContainer(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c) return;
    killGroup(c.child);
    await c.exited;
    this.containers.delete(id);
  }

  async attach(containerId: string, io: StreamIO, ctx: Ctx): Promise<void> {
    const c = this.containers.get(containerId);
    if (!c) throw new CriError('NotFound', `failed to attach to container ${containerId}: not found`);
    const client = { stdout: io.stdout, stderr: io.stderr };
    c.clients.add(client);
    try {
      const waits: Array<Promise<unknown>> = [c.exited];
      waits.push(new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true })));
      if (io.stdin) waits.push(this.#attachStdin(c, io.stdin));
      if (io.resize) void applyResizes(c.child, io.resize, this.resizes);
      await Promise.race(waits);
      if (c.child.exitCode !== null || c.child.signalCode !== null) {
        // Give the last output a moment to reach the client before ending.
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      c.clients.delete(client);
    }
  }

  /** Resolves when this client detaches (its stdin ended). */
  #attachStdin(c: FakeContainer, stdin: Readable): Promise<void> {
    const once = c.stdinOnce && !c.tty;
    const owner = once ? !c.stdinClaimed : true;
    if (once) c.stdinClaimed = true;
    return new Promise((resolve) => {
      stdin.on('data', (b: Buffer) => {
        if (owner && c.child.stdin!.writable) c.child.stdin!.write(b);
      });
      stdin.once('end', () => {
        // stdin_once without tty: the first client's EOF closes the container's
        // stdin for good, and the client stays until the output ends.
        if (once && owner) c.child.stdin!.end();
        else resolve();
      });
    });
  }

  async portForward(sandboxId: string, port: number, stream: Duplex, ctx: Ctx): Promise<void> {
    if (sandboxId === 'missing') throw new CriError('NotFound', `failed to find sandbox ${sandboxId}`);
    const sock = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    sock.on('error', () => undefined);
    stream.pipe(sock);
    sock.on('data', (b: Buffer) => {
      if (!stream.write(b)) {
        sock.pause();
        stream.once('drain', () => sock.resume());
      }
    });
    const ended = (e: NodeJS.EventEmitter, ev: string): Promise<void> => new Promise((r) => e.once(ev, () => r()));
    const aborted = new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
    const sockDone = Promise.race([ended(sock, 'end'), ended(sock, 'close')]);
    const streamDone = Promise.race([ended(stream, 'end'), ended(stream, 'close')]);
    await Promise.race([sockDone, streamDone, aborted]);
    // One direction is over; give the other up to a second (containerd does the same).
    await Promise.race([Promise.all([sockDone, streamDone]), aborted, new Promise((r) => setTimeout(r, 1000).unref())]);
    stream.unpipe(sock);
    sock.destroy();
  }
}
