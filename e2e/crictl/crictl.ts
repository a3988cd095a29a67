import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/build';

/**
 * Drives the stock crictl that CI has beside the checkout
 * (`../shared/bin/crictl`, v1.26.1: grpc-go 1.51, kubelet 1.26's CRI client,
 * the socket path as `:authority`) with a config file of its own, so no
 * `/etc/crictl.yaml` of the host is read.
 */
export const CRICTL = join(ROOT, '..', 'shared', 'bin', 'crictl');
export const haveCrictl = (): boolean => existsSync(CRICTL);

/** POSIX shell quoting, for `script -c`. */
const quote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;

export interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class Crictl {
  readonly config: string;

  constructor(dir: string, socket: string) {
    this.config = join(dir, 'crictl.yaml');
    // A loaded CI machine can take more than crictl's default 2 s to connect.
    writeFileSync(this.config, [`runtime-endpoint: unix://${socket}`, `image-endpoint: unix://${socket}`, 'timeout: 30', 'debug: false', ''].join('\n'));
  }

  #argv(args: readonly string[]): string[] {
    return ['--config', this.config, ...args];
  }

  /** Runs crictl to completion. */
  run(...args: string[]): Result {
    const r = spawnSync(CRICTL, this.#argv(args), { encoding: 'utf8', timeout: 120_000, env: { ...process.env, CRI_CONFIG_FILE: this.config } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs crictl and returns its stdout, failing with everything it printed when it exits non-zero. */
  ok(...args: string[]): string {
    const r = this.run(...args);
    if (r.code !== 0) throw new Error(`crictl ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** `crictl <command> -o json <args>`, parsed (crictl stops reading flags at the first argument). */
  json<T = Record<string, unknown>>(command: string, ...args: string[]): T {
    return JSON.parse(this.ok(command, '-o', 'json', ...args)) as T;
  }

  /** A long-running crictl (logs -f, port-forward), or one on a pseudo-terminal (exec -it, attach -it). */
  start(args: readonly string[], opts: { tty?: boolean } = {}): Session {
    const argv = this.#argv(args);
    // util-linux `script` gives crictl a pseudo-terminal (as a person's shell would) and relays our pipe to it;
    // -e passes crictl's exit code on.
    const child = opts.tty
      ? spawn('script', ['-qfec', [CRICTL, ...argv].map(quote).join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true })
      : spawn(CRICTL, argv, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    return new Session(child);
  }
}

export class Session {
  out = '';
  err = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (b: Buffer) => (this.out += b.toString('utf8')));
    child.stderr!.on('data', (b: Buffer) => (this.err += b.toString('utf8')));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  write(s: string): void {
    this.child.stdin!.write(s);
  }

  /** Waits until stdout or stderr matches; fails with what was seen when the session ends first or `ms` pass. */
  async waitFor(re: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.out.match(re) ?? this.err.match(re);
      if (m) return m;
      if (this.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`crictl did not print ${re} (exit ${this.child.exitCode}):\nstdout: ${JSON.stringify(this.out)}\nstderr: ${JSON.stringify(this.err)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Ends the session's whole process group (crictl, and `script` when on a terminal). */
  kill(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
