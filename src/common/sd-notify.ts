import { DgramSocket } from 'node-unix-socket';
import { log } from './log';

/**
 * `sd_notify(3)` for `Type=notify` units: datagrams of `KEY=VALUE` lines to
 * the unix socket in `NOTIFY_SOCKET` (a path, or `@name` for the abstract
 * namespace). The variable is removed from the environment at once, as
 * `sd_notify(unset_environment=1)` does, so conmon, runc and containers
 * never inherit it (runc would take it as the container's own socket).
 * Without the variable every call is a no-op. Failures are logged, never
 * thrown: the daemon serves whether or not systemd hears it.
 */
export class SdNotifier {
  readonly #path: string | undefined;
  #socket: DgramSocket | undefined;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const raw = env.NOTIFY_SOCKET;
    delete env.NOTIFY_SOCKET;
    if (!raw) return;
    if (raw.startsWith('@')) this.#path = `\0${raw.slice(1)}`;
    else if (raw.startsWith('/')) this.#path = raw;
    else log.warn({ notify_socket: raw }, 'NOTIFY_SOCKET is neither a path nor @abstract; not notifying');
  }

  get enabled(): boolean {
    return this.#path !== undefined;
  }

  /** Sends one message; resolves when sent (or dropped with a warning). */
  notify(fields: Readonly<Record<string, string | number>>): Promise<void> {
    const path = this.#path;
    if (!path) return Promise.resolve();
    const text = Object.entries(fields)
      .map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`)
      .join('\n');
    const buf = Buffer.from(text);
    return new Promise((resolve) => {
      try {
        this.#socket ??= new DgramSocket();
        this.#socket.sendTo(buf, 0, buf.length, path, (err) => {
          if (err) log.warn({ err: err.message, notify_socket: path }, 'sd_notify failed');
          resolve();
        });
      } catch (err) {
        log.warn({ err: (err as Error).message, notify_socket: path }, 'sd_notify failed');
        resolve();
      }
    });
  }

  ready(status: string): Promise<void> {
    return this.notify({ READY: 1, STATUS: status, MAINPID: process.pid });
  }

  status(status: string): Promise<void> {
    return this.notify({ STATUS: status });
  }

  /** `Type=notify-reload` protocol: RELOADING with the monotonic clock, then READY again. */
  reloading(): Promise<void> {
    return this.notify({ RELOADING: 1, STATUS: 'reloading the configuration', MONOTONIC_USEC: (process.hrtime.bigint() / 1000n).toString() });
  }

  stopping(status: string): Promise<void> {
    return this.notify({ STOPPING: 1, STATUS: status });
  }

  close(): void {
    this.#socket?.close();
    this.#socket = undefined;
  }
}
