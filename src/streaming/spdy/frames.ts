/**
 * SPDY/3.1 framing (SPDY Protocol Draft 3.1, section 2.2). Big-endian
 * throughout; every frame has an 8-byte header:
 *
 *   control: [1|15b version=3][16b type][8b flags][24b length]
 *   data:    [0|31b stream id][8b flags][24b length]
 */
export const FLAG_FIN = 0x01;

export enum FrameType {
  SynStream = 1,
  SynReply = 2,
  RstStream = 3,
  Settings = 4,
  Ping = 6,
  GoAway = 7,
  Headers = 8,
  WindowUpdate = 9,
}

export enum RstStatus {
  ProtocolError = 1,
  InvalidStream = 2,
  RefusedStream = 3,
  Cancel = 5,
  InternalError = 6,
}

export type Frame =
  | { readonly kind: 'data'; readonly streamId: number; readonly flags: number; readonly payload: Buffer }
  | { readonly kind: 'control'; readonly type: number; readonly version: number; readonly flags: number; readonly payload: Buffer };

/** Kubernetes clients send a few KiB at most per frame; anything near the 16 MiB format limit is hostile. */
/** No frame we accept is larger (spdystream's own writes stay far below; a control frame's headers are capped too). */
export const MAX_FRAME = 1 << 20;
/** Outgoing DATA payloads are chunked to this size so one stream cannot hog the connection. */
export const MAX_DATA_CHUNK = 32 * 1024;

export function encodeData(streamId: number, flags: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(streamId & 0x7fffffff, 0);
  header.writeUInt32BE(((flags & 0xff) << 24) | payload.length, 4);
  return payload.length === 0 ? header : Buffer.concat([header, payload]);
}

export function encodeControl(type: FrameType, flags: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(0x8000 | 3, 0);
  header.writeUInt16BE(type, 2);
  header.writeUInt32BE(((flags & 0xff) << 24) | payload.length, 4);
  return Buffer.concat([header, payload]);
}

export function encodeSynReply(streamId: number, headerBlock: Buffer): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(streamId & 0x7fffffff);
  return encodeControl(FrameType.SynReply, 0, Buffer.concat([id, headerBlock]));
}

export function encodeRst(streamId: number, status: RstStatus): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  p.writeUInt32BE(status, 4);
  return encodeControl(FrameType.RstStream, 0, p);
}

export function encodeGoAway(lastGoodStreamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  p.writeUInt32BE(status, 4);
  return encodeControl(FrameType.GoAway, 0, p);
}

export function encodePing(id: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(id >>> 0);
  return encodeControl(FrameType.Ping, 0, p);
}

/** Incremental frame parser: feed it socket chunks, get whole frames. */
export class FrameParser {
  #chunks: Buffer[] = [];
  #length = 0;

  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.#length < 8) break;
      const head = this.#peek(8);
      const len = head.readUInt32BE(4) & 0xffffff;
      if (len > MAX_FRAME) throw new Error(`failed to parse SPDY frame: length ${len} too large`);
      if (this.#length < 8 + len) break;
      const buf = this.#take(8 + len);
      const payload = buf.subarray(8);
      const flags = buf[4]!;
      if ((buf[0]! & 0x80) !== 0) {
        frames.push({ kind: 'control', version: buf.readUInt16BE(0) & 0x7fff, type: buf.readUInt16BE(2), flags, payload });
      } else {
        frames.push({ kind: 'data', streamId: buf.readUInt32BE(0) & 0x7fffffff, flags, payload });
      }
    }
    return frames;
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!.subarray(0, n);
  }

  #take(n: number): Buffer {
    if (this.#chunks[0]!.length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    const first = this.#chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#length -= n;
    return out;
  }
}

/** Name/value header block before compression: `[32 count]` then `[32 len][name][32 len][value]` each. */
export function encodeNameValues(headers: ReadonlyMap<string, string>): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  parts.push(u32(headers.size));
  for (const [name, value] of headers) {
    const n = Buffer.from(name.toLowerCase());
    const v = Buffer.from(value);
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Decodes a decompressed header block. Multiple values of one name are `\0`-joined on the wire. */
export function decodeNameValues(block: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  const u32 = (): number => {
    if (off + 4 > block.length) throw new Error('failed to decode SPDY headers: truncated block');
    const n = block.readUInt32BE(off);
    off += 4;
    return n;
  };
  const str = (): string => {
    const n = u32();
    if (off + n > block.length) throw new Error('failed to decode SPDY headers: truncated block');
    const s = block.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  const count = u32();
  if (count > 1000) throw new Error(`failed to decode SPDY headers: ${count} entries`);
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    out.set(name, str());
  }
  return out;
}
