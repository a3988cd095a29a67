import { createServer, type Server, type Socket } from 'node:net';
import { decodeMessage, encodeMessage, type Message, MessageType, messageLength } from './wire';

/**
 * A fake D-Bus peer for unit tests (never a real bus): a unix socket
 * server speaking the wire protocol. It answers SASL `AUTH EXTERNAL`
 * (or refuses it), records every method call, and replies with what
 * `handler` returns: a reply body, or a thrown `FakeDbusError` that goes
 * back as an error reply. `signal` emits a signal to every client.
 */
export class FakeDbusError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
  ) {
    super(message);
  }
}

export interface FakeReply {
  readonly signature?: string;
  readonly body?: readonly unknown[];
  /** Runs after the reply is written (e.g. to emit JobRemoved). */
  readonly after?: () => void;
}

export type FakeHandler = (call: Message) => FakeReply | Promise<FakeReply>;

export class FakeDbusPeer {
  readonly calls: Message[] = [];
  /** The uid each client claimed in `AUTH EXTERNAL`. */
  readonly authUids: string[] = [];
  readonly #server: Server;
  readonly #clients = new Set<Socket>();
  #serial = 1000;
  refuseAuth = false;

  constructor(
    readonly path: string,
    public handler: FakeHandler,
  ) {
    this.#server = createServer((s) => this.#serve(s));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.path, () => resolve());
    });
  }

  close(): Promise<void> {
    for (const c of this.#clients) c.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  signal(path: string, iface: string, member: string, signature: string, body: readonly unknown[]): void {
    const bytes = encodeMessage({ type: MessageType.Signal, serial: ++this.#serial, path, interface: iface, member, signature, body });
    for (const c of this.#clients) c.write(bytes);
  }

  #serve(sock: Socket): void {
    this.#clients.add(sock);
    sock.on('close', () => this.#clients.delete(sock));
    sock.on('error', () => undefined);
    let authed = false;
    let text = '';
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      if (!authed) {
        text += d.toString('latin1');
        for (let nl = text.indexOf('\r\n'); nl >= 0 && !authed; nl = text.indexOf('\r\n')) {
          const line = text.slice(0, nl).replace(/^\0/, '');
          text = text.slice(nl + 2);
          const m = /^AUTH EXTERNAL ([0-9a-f]+)$/.exec(line);
          if (m) {
            this.authUids.push(Buffer.from(m[1]!, 'hex').toString());
            sock.write(this.refuseAuth ? 'REJECTED EXTERNAL\r\n' : 'OK 0123456789abcdef0123456789abcdef\r\n');
          } else if (line === 'BEGIN') {
            authed = true;
            buf = Buffer.from(text, 'latin1');
          } else sock.write('ERROR\r\n');
        }
        if (!authed) return;
      } else buf = Buffer.concat([buf, d]);
      for (;;) {
        const len = messageLength(buf);
        if (len === undefined || buf.length < len) return;
        const msg = decodeMessage(buf.subarray(0, len));
        buf = buf.subarray(len);
        void this.#answer(sock, msg);
      }
    });
  }

  async #answer(sock: Socket, call: Message): Promise<void> {
    if (call.type !== MessageType.MethodCall) return;
    this.calls.push(call);
    let reply: FakeReply;
    try {
      reply = call.member === 'Hello' ? { signature: 's', body: [':1.42'] } : await this.handler(call);
    } catch (err) {
      const e = err instanceof FakeDbusError ? err : new FakeDbusError('org.freedesktop.DBus.Error.Failed', String(err));
      sock.write(encodeMessage({ type: MessageType.Error, serial: ++this.#serial, replySerial: call.serial, errorName: e.errorName, signature: 's', body: [e.message] }));
      return;
    }
    sock.write(encodeMessage({ type: MessageType.MethodReturn, serial: ++this.#serial, replySerial: call.serial, signature: reply.signature ?? '', body: reply.body ?? [] }));
    reply.after?.();
  }
}
