import { Flag, FRAME_HEADER_LENGTH, FrameType, readFrameHeader, Setting } from './frames';

/**
 * Follows the server-to-client half of a connection frame by frame, without
 * changing or holding any byte, to see the SETTINGS the server advertises:
 * the client's HPACK encoder may use as large a dynamic table as the server
 * allows (our decoder must accept it), and client frames may be as large as
 * the server's SETTINGS_MAX_FRAME_SIZE. It also tells which bytes the client
 * should not wait for (`observe`).
 */
export interface ServerSettingsListener {
  serverHeaderTableSize(size: number): void;
  serverMaxFrameSize(size: number): void;
}

export class SettingsWatch {
  readonly #head = Buffer.alloc(FRAME_HEADER_LENGTH);
  #headLength = 0;
  #remaining = 0;
  /** Payload pieces of a SETTINGS frame being read, or null while skipping another frame's payload. */
  #settings: Buffer[] | null = null;

  constructor(private readonly listener: ServerSettingsListener) {}

  /**
   * Reads `chunk`; true when a frame begins in it that ends a stream (its
   * END_STREAM flag: a reply's trailers) or that is not part of a reply's
   * headers or messages (SETTINGS, PING, RST_STREAM, WINDOW_UPDATE, GOAWAY...).
   */
  observe(chunk: Uint8Array): boolean {
    let urgent = false;
    let i = 0;
    while (i < chunk.length) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.length - i);
        this.#settings?.push(Buffer.from(chunk.subarray(i, i + n)));
        this.#remaining -= n;
        i += n;
        if (this.#remaining === 0) this.#endFrame();
        continue;
      }
      const n = Math.min(FRAME_HEADER_LENGTH - this.#headLength, chunk.length - i);
      this.#head.set(chunk.subarray(i, i + n), this.#headLength);
      this.#headLength += n;
      i += n;
      if (this.#headLength < FRAME_HEADER_LENGTH) break;
      this.#headLength = 0;
      const h = readFrameHeader(this.#head, 0);
      const reply = h.type === FrameType.HEADERS || h.type === FrameType.DATA || h.type === FrameType.CONTINUATION;
      if (!reply || (h.type !== FrameType.CONTINUATION && h.flags & Flag.END_STREAM)) urgent = true;
      this.#remaining = h.length;
      this.#settings = h.type === FrameType.SETTINGS && !(h.flags & Flag.ACK) ? [] : null;
      if (this.#remaining === 0) this.#endFrame();
    }
    return urgent;
  }

  #endFrame(): void {
    const pieces = this.#settings;
    this.#settings = null;
    if (!pieces) return;
    const p = Buffer.concat(pieces);
    for (let off = 0; off + 6 <= p.length; off += 6) {
      const id = p.readUInt16BE(off);
      const value = p.readUInt32BE(off + 2);
      if (id === Setting.HEADER_TABLE_SIZE) this.listener.serverHeaderTableSize(value);
      else if (id === Setting.MAX_FRAME_SIZE) this.listener.serverMaxFrameSize(value);
    }
  }
}
