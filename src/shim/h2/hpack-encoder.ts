import { Flag, FRAME_HEADER_LENGTH, FrameType, MIN_MAX_FRAME_SIZE, writeFrameHeader } from './frames';
import type { HeaderField } from './hpack-decoder';
import { STATIC_TABLE } from './hpack-static';

/**
 * Re-encodes a decoded header block for the server.
 *
 * Every field goes out as a literal without indexing (or never indexed, as
 * the client marked it), naming a static-table entry where one has the name.
 * The server's dynamic table is never used, so what we send never depends on
 * the server's SETTINGS_HEADER_TABLE_SIZE or on its table's state, and the
 * client's dynamic table (which only our decoder mirrors) never leaks through.
 * Each block starts with a dynamic table size update to 0: a decoder whose
 * side lowered its table size requires one in the next block (RFC 7541
 * section 4.2), and 0 is always allowed; it costs one byte.
 */
const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name], i) => {
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
});
const SIZE_UPDATE_ZERO = 0x20;

const intLength = (v: number, prefix: number): number => {
  const max = (1 << prefix) - 1;
  if (v < max) return 1;
  let n = 2;
  for (v -= max; v >= 0x80; v = Math.floor(v / 0x80)) n++;
  return n;
};

function writeInt(b: Buffer, off: number, v: number, prefix: number, high: number): number {
  const max = (1 << prefix) - 1;
  if (v < max) {
    b[off] = high | v;
    return off + 1;
  }
  b[off++] = high | max;
  for (v -= max; v >= 0x80; v = Math.floor(v / 0x80)) b[off++] = (v % 0x80) | 0x80;
  b[off] = v;
  return off + 1;
}

const nameIndex = (name: Buffer): number => (name.length <= 27 ? STATIC_NAME_INDEX.get(name.toString('latin1')) ?? 0 : 0);

function blockLength(fields: readonly HeaderField[], indexes: Int32Array): number {
  let len = 1;
  fields.forEach((f, i) => {
    const idx = (indexes[i] = nameIndex(f.name));
    len += intLength(idx, 4) + (idx ? 0 : intLength(f.name.length, 7) + f.name.length);
    len += intLength(f.value.length, 7) + f.value.length;
  });
  return len;
}

function writeBlock(fields: readonly HeaderField[], indexes: Int32Array, b: Buffer, off: number): void {
  b[off++] = SIZE_UPDATE_ZERO;
  fields.forEach((f, i) => {
    const idx = indexes[i]!;
    off = writeInt(b, off, idx, 4, f.neverIndex ? 0x10 : 0x00);
    if (!idx) {
      off = writeInt(b, off, f.name.length, 7, 0);
      off += f.name.copy(b, off);
    }
    off = writeInt(b, off, f.value.length, 7, 0);
    off += f.value.copy(b, off);
  });
}

export interface HeaderBlockFrames {
  readonly stream: number;
  readonly endStream: boolean;
  /** The 5 priority bytes of the client's HEADERS frame (RFC 9113 section 6.2), kept as sent. */
  readonly priority: Buffer | null;
  readonly fields: readonly HeaderField[];
}

/**
 * The HEADERS frame (and CONTINUATION frames when the block is larger than
 * the smallest frame size any HTTP/2 peer must accept) carrying `fields`.
 */
export function encodeHeaderFrames(h: HeaderBlockFrames): Buffer {
  const indexes = new Int32Array(h.fields.length);
  const len = blockLength(h.fields, indexes);
  const pri = h.priority ? 5 : 0;
  const flags = (h.endStream ? Flag.END_STREAM : 0) | (h.priority ? Flag.PRIORITY : 0);
  if (pri + len <= MIN_MAX_FRAME_SIZE) {
    const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + pri + len);
    writeFrameHeader(out, 0, { length: pri + len, type: FrameType.HEADERS, flags: flags | Flag.END_HEADERS, stream: h.stream });
    if (h.priority) h.priority.copy(out, FRAME_HEADER_LENGTH);
    writeBlock(h.fields, indexes, out, FRAME_HEADER_LENGTH + pri);
    return out;
  }
  const block = Buffer.allocUnsafe(len);
  writeBlock(h.fields, indexes, block, 0);
  const first = MIN_MAX_FRAME_SIZE - pri;
  const rest = Math.ceil((len - first) / MIN_MAX_FRAME_SIZE);
  const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH * (1 + rest) + pri + len);
  writeFrameHeader(out, 0, { length: MIN_MAX_FRAME_SIZE, type: FrameType.HEADERS, flags, stream: h.stream });
  if (h.priority) h.priority.copy(out, FRAME_HEADER_LENGTH);
  let off = FRAME_HEADER_LENGTH + pri + block.copy(out, FRAME_HEADER_LENGTH + pri, 0, first);
  for (let from = first; from < len; from += MIN_MAX_FRAME_SIZE) {
    const n = Math.min(MIN_MAX_FRAME_SIZE, len - from);
    const last = from + n === len;
    writeFrameHeader(out, off, { length: n, type: FrameType.CONTINUATION, flags: last ? Flag.END_HEADERS : 0, stream: h.stream });
    off += FRAME_HEADER_LENGTH;
    off += block.copy(out, off, from, from + n);
  }
  return out;
}
