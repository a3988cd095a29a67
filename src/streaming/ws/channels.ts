import { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { log } from '../../common/log';

/** `[255, ch]` half-closes channel `ch` (protocol v5). */
export const CLOSE_SIGNAL = 0xff;
/** Queue this much on the socket before writers are made to wait. */
const SEND_HIGH_WATER = 1024 * 1024;

export interface ChannelOptions {
  /** Text frames of `'0'+ch` followed by base64 (the `base64.` protocols). */
  readonly base64: boolean;
  /** Honour the v5 close signal. */
  readonly closeSignal: boolean;
}

/**
 * One channel of a Kubernetes channel WebSocket (k8s.io/streaming
 * `wsstream/conn.go`): readable = payloads of the client's messages on it,
 * writable = our messages on it. There is no per-channel EOF on the way out;
 * the session ends by closing the socket with code 1000.
 */
export class Channel extends Duplex {
  full = false;
  #remoteEnded = false;

  constructor(
    readonly channel: number,
    private readonly mux: ChannelMux,
  ) {
    super({ allowHalfOpen: true });
    this.on('error', () => undefined);
  }

  /** Ends the readable side (client close signal or socket gone); later data is dropped. */
  remoteEnd(): void {
    if (this.#remoteEnded) return;
    this.#remoteEnded = true;
    this.push(null);
  }

  /** Delivers a payload from the client; false when the consumer is behind. */
  deliver(payload: Buffer): boolean {
    if (this.#remoteEnded) return true;
    return this.push(payload);
  }

  override _read(): void {
    if (this.full) {
      this.full = false;
      this.mux.wantRead();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.mux.send(this.channel, chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    cb();
  }
}

/** Demultiplexes a channel WebSocket into `Channel` streams. */
export class ChannelMux {
  readonly #ws: WebSocket;
  readonly #opts: ChannelOptions;
  readonly #channels = new Map<number, Channel>();
  readonly #closed = new AbortController();
  #paused = false;

  constructor(ws: WebSocket, opts: ChannelOptions) {
    this.#ws = ws;
    this.#opts = opts;
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.#teardown());
    ws.on('error', (err) => {
      log.debug({ err }, 'websocket error');
      this.#teardown();
    });
  }

  /** Aborted when the socket closes. */
  get signal(): AbortSignal {
    return this.#closed.signal;
  }

  channel(ch: number): Channel {
    let c = this.#channels.get(ch);
    if (!c) {
      c = new Channel(ch, this);
      this.#channels.set(ch, c);
      if (this.#closed.signal.aborted) c.remoteEnd();
    }
    return c;
  }

  /** Sends one message on `ch`; `cb` runs once the socket can take more. */
  send(ch: number, payload: Buffer, cb: (err?: Error | null) => void = () => undefined): void {
    if (this.#ws.readyState !== this.#ws.OPEN) {
      cb();
      return;
    }
    let waiting = false;
    const frame = this.#opts.base64
      ? String.fromCharCode(0x30 + ch) + payload.toString('base64')
      : Buffer.concat([Buffer.of(ch), payload]);
    this.#ws.send(frame, { binary: !this.#opts.base64 }, () => {
      if (waiting) cb();
    });
    if (this.#ws.bufferedAmount > SEND_HIGH_WATER) waiting = true;
    else cb();
  }

  wantRead(): void {
    if (!this.#paused) return;
    for (const c of this.#channels.values()) if (c.full) return;
    this.#paused = false;
    this.#ws.resume();
  }

  /** Closes the socket normally (1000) once queued messages are out; resolves when it is closed. */
  async close(code = 1000, reason = ''): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#ws.close(code, reason);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#ws.terminate();
        resolve();
      }, 5000);
      timer.unref();
      this.#closed.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  terminate(): void {
    this.#ws.terminate();
    this.#teardown();
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (buf.length === 0) return;
    let ch: number;
    let payload: Buffer;
    if (this.#opts.base64 && !isBinary) {
      ch = buf[0]! - 0x30;
      payload = Buffer.from(buf.subarray(1).toString('latin1'), 'base64');
    } else {
      ch = buf[0]!;
      payload = buf.subarray(1);
      if (ch === CLOSE_SIGNAL && this.#opts.closeSignal) {
        if (buf.length !== 2) {
          log.debug({ len: buf.length }, 'malformed websocket close signal; dropping the connection');
          this.terminate();
          return;
        }
        const c = this.#channels.get(buf[1]!);
        c?.remoteEnd();
        return;
      }
    }
    if (payload.length === 0) return;
    const c = this.#channels.get(ch);
    if (!c) return; // channels nobody asked for are ignored
    if (!c.deliver(payload)) {
      c.full = true;
      if (!this.#paused) {
        this.#paused = true;
        this.#ws.pause();
      }
    }
  }

  #teardown(): void {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort(new Error('websocket closed'));
    for (const c of this.#channels.values()) {
      c.remoteEnd();
      c.destroy();
    }
  }
}
