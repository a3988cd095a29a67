import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { RequestFilter } from './request-filter';
import { SettingsWatch } from './settings-watch';

/**
 * A client connection as grpc-js's HTTP/2 server sees it: the bytes the
 * client sends go through `RequestFilter` (header blocks re-encoded with a
 * valid `:authority`, everything else handed on as it arrived), the bytes
 * the server sends go to the socket untouched while `SettingsWatch` reads the
 * server's SETTINGS off them.
 *
 * Framing the filter cannot pass on closes this connection only: the socket
 * is destroyed, the HTTP/2 session sees it close, and `onReject` hears why.
 */
export interface FilteredConnectionOptions {
  /** Largest compressed header block of one request (all its frames). */
  readonly maxBlockSize: number;
  /** Largest decoded header list of one request. */
  readonly maxListSize: number;
  readonly onReject: (err: unknown) => void;
}

/** Turns of the event loop a reply's frames wait at most for the rest of it (see `FilteredConnection._write`). */
const HOLD_TURNS = 3;

export class FilteredConnection extends Duplex {
  readonly #socket: Socket;
  readonly #filter: RequestFilter;
  readonly #watch: SettingsWatch;

  constructor(socket: Socket, opts: FilteredConnectionOptions) {
    // Half-closing is left to the socket (as grpc-js's own listener leaves it) and to the HTTP/2 session.
    super({ allowHalfOpen: true });
    this.#socket = socket;
    this.#filter = new RequestFilter(opts);
    this.#watch = new SettingsWatch(this.#filter);
    socket.on('data', (chunk: Buffer) => {
      let out: Buffer[];
      try {
        out = this.#filter.push(chunk);
      } catch (err) {
        opts.onReject(err);
        socket.destroy();
        return;
      }
      let more = true;
      for (const b of out) more = this.push(b);
      if (!more) socket.pause();
    });
    socket.on('end', () => this.push(null));
    // The session learns of a failed socket from its close; the error itself says nothing it can use.
    socket.on('error', () => undefined);
    socket.on('close', () => this.destroy());
  }

  /** Header blocks rewritten on this connection. */
  get rewritten(): number {
    return this.#filter.rewritten;
  }

  override _read(): void {
    this.#socket.resume();
  }

  /**
   * The server's bytes go to the socket corked, so that the frames of one
   * response (headers, message, trailers) leave in one write and wake the
   * client once: grpc-js sends a unary reply's trailers only once the write
   * of its message completed, a turn or two of the event loop later. Held
   * until the end of the tick in which something the client should not
   * wait for was written (a stream's end, a control frame: `SettingsWatch`),
   * or the socket's buffer filled, and at most `HOLD_TURNS` turns. A chunk
   * is taken at once while the socket's buffer has room, and only after it
   * drained otherwise.
   */
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#send([chunk], cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.#send(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  #corked = false;
  /** The corked spell's pending flush: at the end of the tick (`soon`), else after `HOLD_TURNS` turns. */
  #soon = false;
  #hold: NodeJS.Immediate | undefined;

  #send(chunks: readonly Buffer[], cb: (err?: Error | null) => void): void {
    const socket = this.#socket;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      this.#holdFor(HOLD_TURNS);
    }
    let room = true;
    let urgent = false;
    for (const chunk of chunks) {
      urgent = this.#watch.observe(chunk) || urgent;
      room = socket.write(chunk);
    }
    if ((urgent || !room) && !this.#soon) {
      this.#soon = true;
      process.nextTick(() => this.#flush());
    }
    if (room) cb();
    else socket.once('drain', () => cb());
  }

  #holdFor(turns: number): void {
    this.#hold = setImmediate(() => (turns > 1 ? this.#holdFor(turns - 1) : this.#flush()));
  }

  #flush(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#soon = false;
    clearImmediate(this.#hold);
    this.#socket.uncork();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#socket.destroy();
    cb(err);
  }
}
