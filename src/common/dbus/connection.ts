import { createConnection, type Socket } from 'node:net';
import { decodeMessage, encodeMessage, type Message, MessageType, messageLength } from './wire';

/**
 * A D-Bus connection over a unix socket: SASL `EXTERNAL` authentication
 * with the caller's uid (the kernel vouches for it through SO_PEERCRED),
 * method calls matched to replies by serial, signals handed to listeners.
 * Enough for systemd's Manager interface, nothing more (no fd passing, no
 * introspection). On a message bus (`hello: true`) the first call is
 * `Hello`; systemd's private socket is a direct peer and takes none.
 */

/** A D-Bus error reply: `name` is the error name (`org.freedesktop.systemd1.UnitExists`). */
export class DbusError extends Error {
  constructor(
    override readonly name: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CallOptions {
  readonly destination?: string;
  readonly path: string;
  readonly interface: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: readonly unknown[];
}

export interface ConnectOptions {
  /** Send `org.freedesktop.DBus.Hello` first (a message bus, not a direct peer). */
  readonly hello: boolean;
  /** Milliseconds for connect + auth and for each call. */
  readonly timeoutMs?: number;
  /** The uid sent in `AUTH EXTERNAL` (default: the process's). */
  readonly uid?: number;
}

export class DbusConnection {
  readonly #sock: Socket;
  readonly #timeoutMs: number;
  #serial = 0;
  readonly #pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  readonly #signalListeners = new Set<(m: Message) => void>();
  #buf: Buffer = Buffer.alloc(0);
  #closed: Error | undefined;

  private constructor(sock: Socket, timeoutMs: number) {
    this.#sock = sock;
    this.#timeoutMs = timeoutMs;
  }

  static async connect(path: string, opts: ConnectOptions): Promise<DbusConnection> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const sock = createConnection(path);
    const conn = new DbusConnection(sock, timeoutMs);
    try {
      await conn.#authenticate(opts.uid ?? process.getuid?.() ?? 0);
    } catch (err) {
      sock.destroy();
      throw err;
    }
    sock.on('data', (d: Buffer) => conn.#onData(d));
    sock.on('error', (e) => conn.#fail(e));
    sock.on('close', () => conn.#fail(new Error('D-Bus connection closed')));
    if (opts.hello) await conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello' });
    return conn;
  }

  /** The SASL exchange: `\0AUTH EXTERNAL <hex uid>`, `OK <guid>`, `BEGIN`. */
  #authenticate(uid: number): Promise<void> {
    const sock = this.#sock;
    return new Promise<void>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => done(new Error(`D-Bus authentication timed out after ${this.#timeoutMs} ms`)), this.#timeoutMs);
      const done = (err?: Error, rest?: Buffer): void => {
        clearTimeout(timer);
        sock.off('data', onData);
        sock.off('error', onError);
        sock.off('connect', onConnect);
        if (err) return reject(err);
        if (rest && rest.length > 0) this.#buf = Buffer.from(rest);
        resolve();
      };
      const onError = (e: Error): void => done(e);
      const onConnect = (): void => {
        sock.write(Buffer.concat([Buffer.from([0]), Buffer.from(`AUTH EXTERNAL ${Buffer.from(String(uid)).toString('hex')}\r\n`)]));
      };
      const onData = (d: Buffer): void => {
        text += d.toString('latin1');
        if (text.length > 4096) return done(new Error('D-Bus peer sent an over-long auth line'));
        const nl = text.indexOf('\r\n');
        if (nl < 0) return;
        const line = text.slice(0, nl);
        if (!line.startsWith('OK ')) return done(new Error(`D-Bus peer refused EXTERNAL authentication: ${line.slice(0, 200)}`));
        sock.write('BEGIN\r\n');
        done(undefined, Buffer.from(text.slice(nl + 2), 'latin1'));
      };
      sock.on('data', onData);
      sock.on('error', onError);
      sock.once('connect', onConnect);
    });
  }

  #onData(d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
    for (;;) {
      let len: number | undefined;
      let msg: Message;
      try {
        len = messageLength(this.#buf);
        if (len === undefined || this.#buf.length < len) return;
        msg = decodeMessage(this.#buf.subarray(0, len));
      } catch (err) {
        this.#fail(err as Error);
        this.#sock.destroy();
        return;
      }
      this.#buf = this.#buf.subarray(len);
      this.#dispatch(msg);
    }
  }

  #dispatch(m: Message): void {
    if (m.type === MessageType.Signal) {
      for (const l of this.#signalListeners) l(m);
      return;
    }
    if (m.type !== MessageType.MethodReturn && m.type !== MessageType.Error) return;
    const p = m.replySerial === undefined ? undefined : this.#pending.get(m.replySerial);
    if (!p) return;
    this.#pending.delete(m.replySerial!);
    clearTimeout(p.timer);
    if (m.type === MessageType.Error) {
      const text = typeof m.body?.[0] === 'string' ? m.body[0] : '';
      p.reject(new DbusError(m.errorName ?? 'org.freedesktop.DBus.Error.Failed', text));
    } else p.resolve(m);
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    for (const [, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }

  /** Calls a method; resolves with the reply's body, rejects with `DbusError` on an error reply. */
  async call(c: CallOptions): Promise<unknown[]> {
    if (this.#closed) throw this.#closed;
    const serial = ++this.#serial;
    const bytes = encodeMessage({ type: MessageType.MethodCall, serial, ...c });
    const reply = await new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(serial);
        reject(new Error(`D-Bus call ${c.interface}.${c.member} timed out after ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(serial, { resolve, reject, timer });
      this.#sock.write(bytes);
    });
    return [...(reply.body ?? [])];
  }

  /** Listens to every signal; returns the function that stops listening. */
  onSignal(fn: (m: Message) => void): () => void {
    this.#signalListeners.add(fn);
    return () => this.#signalListeners.delete(fn);
  }

  close(): void {
    this.#fail(new Error('D-Bus connection closed'));
    this.#sock.destroy();
  }
}
