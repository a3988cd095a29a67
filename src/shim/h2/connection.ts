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
   * The server's bytes go to the socket corked until the end of the tick,
   * so the frames of one response (headers, message, trailers) leave in one
   * write and wake the client once. A chunk is taken at once while the
   * socket's buffer has room, and only after it drained otherwise.
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

  #send(chunks: readonly Buffer[], cb: (err?: Error | null) => void): void {
    const socket = this.#socket;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    let room = true;
    for (const chunk of chunks) {
      this.#watch.observe(chunk);
      room = socket.write(chunk);
    }
    if (room) cb();
    else socket.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#socket.destroy();
    cb(err);
  }
}
