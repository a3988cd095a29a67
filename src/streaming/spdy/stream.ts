import { Duplex } from 'node:stream';
import { FLAG_FIN, MAX_DATA_CHUNK, RstStatus, encodeData, encodeRst } from './frames';

/** What a stream needs from its session: ordered frame output and backpressure. */
export interface FrameSink {
  send(frame: Buffer | Promise<Buffer>): void;
  whenWritable(): Promise<void>;
  readonly dead: boolean;
  /** Asks for the transport to be read again after a stream's buffer drained. */
  wantRead(): void;
  forget(id: number): void;
}

/**
 * One client-initiated SPDY stream as a Duplex: readable = the client's DATA
 * until its FIN (or RST), writable = our DATA, `end()` sends FIN.
 * Writes after the peer or the connection went away are dropped rather
 * than raised, so a vanished client never crashes the code feeding it.
 */
export class SpdyStream extends Duplex {
  #localFin = false;
  #remoteFin = false;
  #reset = false;
  /** Set while our readable buffer is over its high-water mark. */
  full = false;

  constructor(
    readonly id: number,
    readonly headers: ReadonlyMap<string, string>,
    private readonly sink: FrameSink,
  ) {
    super({ allowHalfOpen: true });
    // Errors from consumers (e.g. a pipe into a dead process) must not become
    // uncaught exceptions; the session reports connection failures itself.
    this.on('error', () => undefined);
  }

  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  get remoteEnded(): boolean {
    return this.#remoteFin;
  }

  /** Delivers a DATA frame's payload from the peer. */
  onData(payload: Buffer, fin: boolean): void {
    if (this.#remoteFin) return;
    if (payload.length > 0 && !this.push(payload)) this.full = true;
    if (fin) {
      this.#remoteFin = true;
      this.push(null);
    }
  }

  /** The peer reset the stream: its data ends here and ours is no longer wanted. */
  onReset(): void {
    this.#reset = true;
    this.#localFin = true;
    if (!this.#remoteFin) {
      this.#remoteFin = true;
      this.push(null);
    }
    this.destroy();
  }

  /** Aborts the stream from our side with RST_STREAM (idempotent). */
  reset(status: RstStatus = RstStatus.Cancel): void {
    if (!this.#reset && !this.sink.dead) this.sink.send(encodeRst(this.id, status));
    this.#reset = true;
    this.#localFin = true;
    if (!this.#remoteFin) {
      this.#remoteFin = true;
      this.push(null);
    }
    this.destroy();
  }

  override _read(): void {
    if (this.full) {
      this.full = false;
      this.sink.wantRead();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#localFin || this.sink.dead) {
      cb();
      return;
    }
    for (let off = 0; off < chunk.length; off += MAX_DATA_CHUNK) {
      this.sink.send(encodeData(this.id, 0, chunk.subarray(off, off + MAX_DATA_CHUNK)));
    }
    this.sink.whenWritable().then(() => cb(), () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.#localFin && !this.sink.dead) this.sink.send(encodeData(this.id, FLAG_FIN, Buffer.alloc(0)));
    this.#localFin = true;
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // A stream torn down before we finished it is reset, so the client does
    // not wait for data that will never come (the reference server's Close).
    if (!this.#localFin) {
      if (!this.#reset && !this.sink.dead) this.sink.send(encodeRst(this.id, RstStatus.Cancel));
      this.#reset = true;
    }
    this.sink.forget(this.id);
    cb(err);
  }
}
