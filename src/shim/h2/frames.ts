/**
 * HTTP/2 framing facts the filter needs (RFC 9113 sections 3.4, 4.1, 6).
 * Every frame starts with a 9-byte header: 24-bit payload length, 8-bit
 * type, 8-bit flags, and a reserved bit plus a 31-bit stream identifier.
 */
export const FRAME_HEADER_LENGTH = 9;
/** What a client sends first on a prior-knowledge connection (section 3.4). */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  MAX_FRAME_SIZE: 0x5,
} as const;

/** The initial and smallest SETTINGS_MAX_FRAME_SIZE (section 6.5.2): frames this size always fit. */
export const MIN_MAX_FRAME_SIZE = 16_384;

export interface FrameHeader {
  readonly length: number;
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
}

export function readFrameHeader(b: Uint8Array, off: number): FrameHeader {
  return {
    length: (b[off]! << 16) | (b[off + 1]! << 8) | b[off + 2]!,
    type: b[off + 3]!,
    flags: b[off + 4]!,
    stream: ((b[off + 5]! & 0x7f) * 0x1000000 + (b[off + 6]! << 16)) + ((b[off + 7]! << 8) | b[off + 8]!),
  };
}

export function writeFrameHeader(b: Buffer, off: number, h: FrameHeader): void {
  b[off] = (h.length >>> 16) & 0xff;
  b[off + 1] = (h.length >>> 8) & 0xff;
  b[off + 2] = h.length & 0xff;
  b[off + 3] = h.type;
  b[off + 4] = h.flags;
  b.writeUInt32BE(h.stream & 0x7fffffff, off + 5);
}
