import { CLIENT_PREFACE, Flag, FRAME_HEADER_LENGTH, FrameType, writeFrameHeader } from './frames';
import { huffmanEncode } from './huffman';
import { STATIC_TABLE } from './hpack-static';

/**
 * Byte-fixture builders for the HTTP/2 filter's tests and bench: a full HPACK
 * encoder (every representation, Huffman or raw, its own dynamic table) and
 * frame writers, standing in for the many encoders real clients have.
 */
export type Representation = 'indexed' | 'incremental' | 'without' | 'never';

export interface FieldSpec {
  readonly name: string;
  readonly value: string | Buffer;
  /** How to send it; `indexed` falls back to `incremental` when no table entry matches. Default `incremental`. */
  readonly as?: Representation;
  readonly huffman?: boolean;
}

function int(v: number, prefix: number, high: number): number[] {
  const max = (1 << prefix) - 1;
  if (v < max) return [high | v];
  const out = [high | max];
  for (v -= max; v >= 0x80; v = Math.floor(v / 0x80)) out.push((v % 0x80) | 0x80);
  out.push(v);
  return out;
}

function str(s: Buffer, huffman: boolean): Buffer {
  const body = huffman ? huffmanEncode(s) : s;
  return Buffer.concat([Buffer.from(int(body.length, 7, huffman ? 0x80 : 0)), body]);
}

export class FixtureEncoder {
  /** Newest first, as HPACK numbers them. */
  readonly table: Array<{ name: string; value: Buffer }> = [];
  #size = 0;
  #max = 4096;

  /** One header block; `sizeUpdates` go first (at most two, section 4.2). */
  encode(fields: readonly FieldSpec[], sizeUpdates: readonly number[] = []): Buffer {
    const out: Buffer[] = [];
    for (const s of sizeUpdates) {
      this.#max = s;
      this.#evict(0);
      out.push(Buffer.from(int(s, 5, 0x20)));
    }
    for (const f of fields) {
      const value = Buffer.isBuffer(f.value) ? f.value : Buffer.from(f.value, 'latin1');
      const huffman = f.huffman ?? false;
      let as = f.as ?? 'incremental';
      if (as === 'indexed') {
        const i = this.#find(f.name, value);
        if (i) {
          out.push(Buffer.from(int(i, 7, 0x80)));
          continue;
        }
        as = 'incremental';
      }
      const nameIdx = this.#findName(f.name);
      const [prefix, high] = as === 'incremental' ? [6, 0x40] : as === 'never' ? [4, 0x10] : [4, 0x00];
      out.push(Buffer.from(int(nameIdx, prefix, high)));
      if (!nameIdx) out.push(str(Buffer.from(f.name, 'latin1'), huffman));
      out.push(str(value, huffman));
      if (as === 'incremental') this.#insert(f.name, value);
    }
    return Buffer.concat(out);
  }

  #find(name: string, value: Buffer): number {
    const s = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value.toString('latin1'));
    if (s >= 0) return s + 1;
    const d = this.table.findIndex((e) => e.name === name && e.value.equals(value));
    return d >= 0 ? STATIC_TABLE.length + d + 1 : 0;
  }

  #findName(name: string): number {
    const s = STATIC_TABLE.findIndex(([n]) => n === name);
    if (s >= 0) return s + 1;
    const d = this.table.findIndex((e) => e.name === name);
    return d >= 0 ? STATIC_TABLE.length + d + 1 : 0;
  }

  #insert(name: string, value: Buffer): void {
    const size = name.length + value.length + 32;
    this.#evict(size);
    if (size <= this.#max) {
      this.table.unshift({ name, value });
      this.#size += size;
    }
  }

  #evict(room: number): void {
    while (this.#size + room > this.#max && this.table.length) {
      const e = this.table.pop()!;
      this.#size -= e.name.length + e.value.length + 32;
    }
  }
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_LENGTH + payload.length);
  writeFrameHeader(b, 0, { length: payload.length, type, flags, stream });
  payload.copy(b, FRAME_HEADER_LENGTH);
  return b;
}

export interface HeadersFrameOptions {
  readonly endStream?: boolean;
  /** Pad length (the PADDED flag and that many zero bytes). */
  readonly pad?: number;
  /** Dependency stream and weight (the PRIORITY flag). */
  readonly priority?: { readonly dependsOn: number; readonly exclusive: boolean; readonly weight: number };
  /** Split the block into fragments of this size: HEADERS then CONTINUATION frames. */
  readonly fragment?: number;
}

/** HEADERS (+ CONTINUATION) frames carrying `block` on `stream`. */
export function headersFrames(stream: number, block: Buffer, o: HeadersFrameOptions = {}): Buffer {
  const size = o.fragment ?? block.length;
  const pieces: Buffer[] = [];
  for (let i = 0; i < block.length || pieces.length === 0; i += size) pieces.push(block.subarray(i, i + size));
  const out: Buffer[] = [];
  pieces.forEach((piece, i) => {
    const last = i === pieces.length - 1;
    if (i === 0) {
      const pre: number[] = [];
      let flags = (o.endStream ? Flag.END_STREAM : 0) | (last ? Flag.END_HEADERS : 0);
      if (o.pad !== undefined) {
        flags |= Flag.PADDED;
        pre.push(o.pad);
      }
      const pri = Buffer.alloc(o.priority ? 5 : 0);
      if (o.priority) {
        flags |= Flag.PRIORITY;
        pri.writeUInt32BE((o.priority.exclusive ? 0x80000000 : 0) + o.priority.dependsOn);
        pri[4] = o.priority.weight;
      }
      out.push(frame(FrameType.HEADERS, flags, stream, Buffer.concat([Buffer.from(pre), pri, piece, Buffer.alloc(o.pad ?? 0)])));
    } else out.push(frame(FrameType.CONTINUATION, last ? Flag.END_HEADERS : 0, stream, piece));
  });
  return Buffer.concat(out);
}

/** The client preface and an empty SETTINGS frame, as a client opens a connection. */
export const clientOpening = (): Buffer => Buffer.concat([CLIENT_PREFACE, frame(FrameType.SETTINGS, 0, 0)]);

/** A gRPC message (uncompressed, length-prefixed) in one DATA frame. */
export function grpcData(stream: number, message: Buffer, endStream = true): Buffer {
  const body = Buffer.alloc(5 + message.length);
  body.writeUInt32BE(message.length, 1);
  message.copy(body, 5);
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, stream, body);
}

/** Splits a byte stream into frames (for checking what the filter produced). */
export function parseFrames(b: Buffer): Array<{ type: number; flags: number; stream: number; payload: Buffer }> {
  const out = [];
  for (let i = 0; i + FRAME_HEADER_LENGTH <= b.length; ) {
    const length = b.readUIntBE(i, 3);
    out.push({ type: b[i + 3]!, flags: b[i + 4]!, stream: b.readUInt32BE(i + 5) & 0x7fffffff, payload: b.subarray(i + 9, i + 9 + length) });
    i += FRAME_HEADER_LENGTH + length;
  }
  return out;
}
