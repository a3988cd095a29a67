import { CriError } from '../../common/errors';
import { withValidAuthority } from './authority';
import { CLIENT_PREFACE, Flag, FRAME_HEADER_LENGTH, FrameType, MIN_MAX_FRAME_SIZE, readFrameHeader, type FrameHeader } from './frames';
import { encodeHeaderFrames } from './hpack-encoder';
import { HpackDecoder } from './hpack-decoder';

/**
 * The client-to-server half of an HTTP/2 connection, rewritten so Node's
 * HTTP/2 layer accepts every request (see `authority.ts` for why).
 *
 * Bytes are parsed as frames as they arrive, whatever the TCP read
 * boundaries. Every frame but HEADERS and CONTINUATION is handed on as the
 * very slices of the input it arrived in (no copy, no waiting for the rest of
 * a large DATA frame). A header block is held until END_HEADERS, decoded with
 * the connection's HPACK state, given a valid `:authority`, and re-encoded as
 * literals (`hpack-encoder.ts`): padding is dropped and priority kept. A
 * violation that makes the stream unparseable (bad HPACK, a frame between
 * HEADERS and its CONTINUATION, an oversized header block) throws `CriError`;
 * the caller closes that one connection.
 */
const fail = (what: string): CriError => new CriError('InvalidArgument', `failed to filter an HTTP/2 connection: ${what}`);

export interface RequestFilterOptions {
  /** Largest header block (compressed, all fragments) held for one request. */
  readonly maxBlockSize: number;
  /** Largest decoded header list of one request. */
  readonly maxListSize: number;
}

interface PendingBlock {
  readonly stream: number;
  readonly endStream: boolean;
  readonly priority: Buffer | null;
  readonly fragments: Buffer[];
  length: number;
}

export class RequestFilter {
  readonly #decoder: HpackDecoder;
  readonly #maxBlockSize: number;
  #maxFrameSize = MIN_MAX_FRAME_SIZE;
  /** Bytes of the client preface still to come; the filter steps aside if they do not match. */
  #preface = CLIENT_PREFACE.length;
  #passthrough = false;
  /** A frame header split over reads. */
  readonly #head = Buffer.alloc(FRAME_HEADER_LENGTH);
  #headLength = 0;
  /** The frame whose payload is arriving; `#remaining` of it is still to come. */
  #frame: FrameHeader | null = null;
  #remaining = 0;
  #collecting = false;
  #payload: Buffer[] = [];
  #block: PendingBlock | null = null;
  /** Header blocks rewritten so far (for tests and traces). */
  rewritten = 0;

  constructor(opts: RequestFilterOptions) {
    this.#decoder = new HpackDecoder({ maxListSize: opts.maxListSize });
    this.#maxBlockSize = opts.maxBlockSize;
  }

  /** The server advertised SETTINGS_HEADER_TABLE_SIZE: the client's encoder may now use that much. */
  serverHeaderTableSize(size: number): void {
    this.#decoder.allowTableSize(size);
  }

  /** The server advertised SETTINGS_MAX_FRAME_SIZE: client frames up to that size are legal. */
  serverMaxFrameSize(size: number): void {
    if (size > this.#maxFrameSize) this.#maxFrameSize = size;
  }

  /** Takes the next bytes from the client; returns what to hand to the server, in order. */
  push(chunk: Buffer): Buffer[] {
    if (this.#passthrough) return [chunk];
    const out: Buffer[] = [];
    let i = 0;
    let run = 0; // start of the bytes of `chunk` passed on verbatim, not yet in `out`
    if (this.#preface > 0) {
      const n = Math.min(this.#preface, chunk.length);
      const at = CLIENT_PREFACE.length - this.#preface;
      if (chunk.compare(CLIENT_PREFACE, at, at + n, 0, n) !== 0) {
        // Not HTTP/2 with prior knowledge: nothing to fix; the server answers it as it would.
        this.#passthrough = true;
        return [chunk];
      }
      this.#preface -= n;
      i = n;
    }
    while (i < chunk.length) {
      if (this.#frame === null) {
        if (this.#headLength > 0 || chunk.length - i < FRAME_HEADER_LENGTH) {
          // A frame header split over reads: held back until whole, then decided on.
          if (i > run) out.push(chunk.subarray(run, i));
          const n = Math.min(FRAME_HEADER_LENGTH - this.#headLength, chunk.length - i);
          chunk.copy(this.#head, this.#headLength, i, i + n);
          this.#headLength += n;
          i += n;
          run = i;
          if (this.#headLength < FRAME_HEADER_LENGTH) break;
          this.#headLength = 0;
          if (!this.#startFrame(readFrameHeader(this.#head, 0))) out.push(Buffer.from(this.#head));
        } else {
          const h = readFrameHeader(chunk, i);
          if (this.#startFrame(h) && i > run) out.push(chunk.subarray(run, i));
          i += FRAME_HEADER_LENGTH;
          if (this.#collecting) run = i;
        }
        if (this.#remaining === 0) this.#endFrame(out);
        continue;
      }
      const n = Math.min(this.#remaining, chunk.length - i);
      if (this.#collecting) {
        this.#payload.push(chunk.subarray(i, i + n));
        run = i + n;
      }
      i += n;
      this.#remaining -= n;
      if (this.#remaining === 0) this.#endFrame(out);
    }
    if (run < chunk.length) out.push(run === 0 ? chunk : chunk.subarray(run));
    return out;
  }

  /** Starts a frame; returns true when its bytes are held (HEADERS, CONTINUATION) rather than passed on. */
  #startFrame(h: FrameHeader): boolean {
    this.#frame = h;
    this.#remaining = h.length;
    const block = this.#block;
    if (block && (h.type !== FrameType.CONTINUATION || h.stream !== block.stream))
      throw fail(`frame type ${h.type} on stream ${h.stream} inside the header block of stream ${block.stream}`);
    if (h.type === FrameType.PUSH_PROMISE) throw fail('a client sent PUSH_PROMISE');
    if (h.type === FrameType.CONTINUATION && !block) throw fail(`CONTINUATION on stream ${h.stream} outside a header block`);
    this.#collecting = h.type === FrameType.HEADERS || h.type === FrameType.CONTINUATION;
    if (this.#collecting && h.length > this.#maxFrameSize) throw fail(`frame of ${h.length} bytes exceeds the maximum frame size`);
    return this.#collecting;
  }

  #endFrame(out: Buffer[]): void {
    const h = this.#frame!;
    this.#frame = null;
    if (!this.#collecting) return;
    this.#collecting = false;
    const payload = this.#payload.length === 1 ? this.#payload[0]! : Buffer.concat(this.#payload);
    this.#payload = [];
    let fragment = payload;
    if (h.type === FrameType.HEADERS) {
      const parts = headersPayload(h, payload);
      fragment = parts.fragment;
      this.#block = { stream: h.stream, endStream: parts.endStream, priority: parts.priority, fragments: [], length: 0 };
    }
    const block = this.#block!;
    block.length += fragment.length;
    if (block.length > this.#maxBlockSize) throw fail(`header block larger than ${this.#maxBlockSize} bytes`);
    block.fragments.push(fragment);
    if (!(h.flags & Flag.END_HEADERS)) return;
    this.#block = null;
    const bytes = block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments);
    const fields = this.#decoder.decode(bytes);
    out.push(encodeHeaderFrames({ stream: block.stream, endStream: block.endStream, priority: block.priority, fields: withValidAuthority(fields) }));
    this.rewritten++;
  }
}

/** Splits a HEADERS payload into its padding, priority and header block fragment (RFC 9113 section 6.2). */
function headersPayload(h: FrameHeader, p: Buffer): { endStream: boolean; priority: Buffer | null; fragment: Buffer } {
  let start = 0;
  let end = p.length;
  if (h.flags & Flag.PADDED) {
    if (p.length < 1) throw fail('padded HEADERS without a pad length');
    end -= p[0]!;
    start = 1;
  }
  let priority: Buffer | null = null;
  if (h.flags & Flag.PRIORITY) {
    priority = p.subarray(start, start + 5);
    start += 5;
  }
  if (end < start) throw fail('HEADERS padding longer than its payload');
  return { endStream: (h.flags & Flag.END_STREAM) !== 0, priority, fragment: p.subarray(start, end) };
}
