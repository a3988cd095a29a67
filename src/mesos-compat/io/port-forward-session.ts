import { spawn, type ChildProcess } from 'node:child_process';
import type { Duplex } from 'node:stream';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';

export interface PortForwardSessionOptions {
  /** The sandbox's pinned network namespace; `undefined` for a host-network sandbox. */
  readonly netnsPath?: string;
  readonly port: number;
  /** Binaries, injectable for tests; default from `PATH`. */
  readonly nsenterPath?: string;
  readonly socatPath?: string;
}

/** socat's `-t`: after one direction ends, how long the other may still flow (containerd waits 1 s). */
const HALF_CLOSE_SECONDS = 1;
const CONNECTED = 'starting data transfer loop';

/**
 * A port forward (cri-api `PortForward`): relays `stream` to TCP `port` on
 * localhost inside the sandbox's network namespace. Node cannot `setns` a
 * thread, so the connection is made by `nsenter --net=<netns> socat - TCP4:127.0.0.1:<port>`
 * (CRI-O did the same), falling back to TCP6 serially like containerd's
 * `sandbox_portforward_linux.go`, so the dial never leaves the namespace.
 * The loopback addresses are literal: the host's `/etc/hosts` (which nsenter
 * keeps) need not map `localhost` to `::1`.
 *
 * The stream is only wired up once socat reports the connection, so a failed
 * IPv4 attempt cannot swallow client bytes. Resolves when the relay is over;
 * rejects with socat's or nsenter's error text when the port cannot be
 * reached (the streaming server shows it to the client), and with `Canceled`
 * after `ctx` aborted (the helper is killed). `stream` is not ended here.
 */
export async function portForwardSession(opts: PortForwardSessionOptions, stream: Duplex, ctx: Ctx): Promise<void> {
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
    throw new CriError('InvalidArgument', `failed to forward port ${opts.port}: not a valid TCP port`);
  }
  ctx.signal.throwIfAborted();
  const failures: string[] = [];
  for (const family of ['TCP4', 'TCP6'] as const) {
    const dial = await connect(opts, family, ctx);
    if ('child' in dial) return relay(dial.child, dial.errors, stream, opts.port, ctx);
    if (ctx.signal.aborted) throw new CriError('Canceled', `failed to forward port ${opts.port}: cancelled`);
    failures.push(dial.failure);
  }
  const where = opts.netnsPath ? 'in the pod network namespace' : 'on the host network';
  throw new CriError('Unavailable', `failed to connect to localhost:${opts.port} ${where}: ${[...new Set(failures)].join('; ')}`);
}

type Dial = { child: ChildProcess; errors: string[] } | { failure: string };

function connect(opts: PortForwardSessionOptions, family: 'TCP4' | 'TCP6', ctx: Ctx): Promise<Dial> {
  const socat = [opts.socatPath ?? 'socat', '-d', '-d', '-t', String(HALF_CLOSE_SECONDS), '-', family === 'TCP4' ? `TCP4:127.0.0.1:${opts.port}` : `TCP6:[::1]:${opts.port}`];
  const argv = opts.netnsPath ? [opts.nsenterPath ?? 'nsenter', `--net=${opts.netnsPath}`, ...socat] : socat;
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], signal: ctx.signal, killSignal: 'SIGKILL' });
  child.on('error', () => undefined);
  child.stdin!.on('error', () => undefined);
  const errors: string[] = [];
  return new Promise<Dial>((resolve) => {
    let partial = '';
    let connected = false;
    child.stderr!.on('data', (b: Buffer) => {
      const lines = (partial + b.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const msg = socatError(line);
        if (msg) errors.push(msg);
        if (!connected && line.includes(CONNECTED)) {
          connected = true;
          resolve({ child, errors });
        }
      }
    });
    child.once('error', (err) => resolve({ failure: err.message }));
    child.once('exit', (code, signal) => {
      if (partial) {
        const msg = socatError(partial);
        if (msg) errors.push(msg);
      }
      if (!connected) resolve({ failure: errors.join('; ') || `${argv[0]} exited ${code ?? signal}` });
    });
  });
}

/** The error text of a socat or nsenter stderr line, or `undefined` for socat's notices and warnings. */
export function socatError(line: string): string | undefined {
  const m = /^\S+ \S+ socat\[\d+\] ([DINWEF]) (.*)$/.exec(line.trim());
  if (m) return m[1] === 'E' || m[1] === 'F' ? m[2] : undefined;
  return line.trim() || undefined;
}

function relay(child: ChildProcess, errors: string[], stream: Duplex, port: number, ctx: Ctx): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // The client's half-close becomes socat's stdin EOF, then a TCP FIN.
    stream.pipe(child.stdin!);
    child.stdout!.pipe(stream, { end: false });
    // A client that vanished without a half-close ends the relay at once.
    const onClose = (): void => {
      if (!stream.readableEnded) child.kill('SIGKILL');
    };
    stream.once('close', onClose);
    child.once('close', (code, signal) => {
      stream.off('close', onClose);
      stream.unpipe(child.stdin!);
      child.stdout!.unpipe(stream);
      if (ctx.signal.aborted) reject(new CriError('Canceled', `failed to forward port ${port}: cancelled`));
      else if (code !== 0 && !stream.destroyed) {
        reject(new CriError('Internal', `failed to forward port ${port}: ${errors.join('; ') || `socat exited ${code ?? signal}`}`));
      } else resolve();
    });
  });
}
