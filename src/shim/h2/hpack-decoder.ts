import { CriError } from '../../common/errors';
import { huffmanDecode } from './huffman';
import { STATIC_TABLE } from './hpack-static';

/**
 * An HPACK header block decoder (RFC 7541) for one direction of one
 * connection: it keeps the dynamic table the peer's encoder mirrors, so every
 * header block of the connection must go through it, in order.
 *
 * Names and values stay bytes: HTTP/2 field values may carry octets that are
 * not UTF-8, and the filter re-encodes them unchanged.
 */
export interface HeaderField {
  readonly name: Buffer;
  readonly value: Buffer;
  /** Sent as "never indexed" (section 6.2.3); an intermediary must keep it so. */
  readonly neverIndex: boolean;
}

interface Entry {
  readonly name: Buffer;
  readonly value: Buffer;
}

/** Section 4.1: an entry's size is its name and value lengths plus 32. */
const ENTRY_OVERHEAD = 32;
const STATIC: readonly Entry[] = STATIC_TABLE.map(([n, v]) => ({ name: Buffer.from(n, 'latin1'), value: Buffer.from(v, 'latin1') }));
/** The initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113 section 6.5.2). */
export const DEFAULT_TABLE_SIZE = 4096;

const fail = (what: string): CriError => new CriError('InvalidArgument', `failed to decode a header block: ${what}`);

export interface HpackDecoderOptions {
  /** Largest decoded header list (section 4.1 sizes) accepted in one block; larger is an error. */
  readonly maxListSize: number;
}

export class HpackDecoder {
  /** Newest entry last; index 62 is the newest. */
  readonly #entries: Entry[] = [];
  #size = 0;
  /** The table's current maximum, as the last size update set it. */
  #max = DEFAULT_TABLE_SIZE;
  /** The largest maximum the peer may choose: the SETTINGS_HEADER_TABLE_SIZE our side advertised. */
  #limit = DEFAULT_TABLE_SIZE;
  readonly #maxListSize: number;
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;

  constructor(opts: HpackDecoderOptions) {
    this.#maxListSize = opts.maxListSize;
  }

  /**
   * Raises the bound on size updates after the receiving side advertised a
   * SETTINGS_HEADER_TABLE_SIZE. We accept the largest value ever advertised:
   * until the peer acknowledges a change it may use either, and a bound is
   * all this is (memory, not meaning).
   */
  allowTableSize(size: number): void {
    if (size > this.#limit) this.#limit = size;
  }

  get tableSize(): number {
    return this.#size;
  }

  get tableEntries(): number {
    return this.#entries.length;
  }

  /** Decodes one complete header block (the fragments of HEADERS and its CONTINUATIONs, joined). */
  decode(block: Buffer): HeaderField[] {
    this.#buf = block;
    this.#pos = 0;
    const out: HeaderField[] = [];
    let listSize = 0;
    let fieldsSeen = false;
    while (this.#pos < block.length) {
      const b = block[this.#pos]!;
      let field: HeaderField;
      if (b & 0x80) {
        // Section 6.1: indexed header field.
        const e = this.#lookup(this.#int(7));
        field = { name: e.name, value: e.value, neverIndex: false };
      } else if (b & 0x40) {
        // Section 6.2.1: literal with incremental indexing.
        field = this.#literal(6, false, true);
        this.#insert(field.name, field.value);
      } else if (b & 0x20) {
        // Section 6.3: dynamic table size update, only before the first field (section 4.2).
        if (fieldsSeen) throw fail('table size update after a header field');
        const size = this.#int(5);
        if (size > this.#limit) throw fail(`table size update to ${size} exceeds the advertised ${this.#limit}`);
        this.#max = size;
        this.#evict(0);
        continue;
      } else {
        // Sections 6.2.2 and 6.2.3: literal without indexing / never indexed.
        field = this.#literal(4, (b & 0x10) !== 0, false);
      }
      fieldsSeen = true;
      listSize += field.name.length + field.value.length + ENTRY_OVERHEAD;
      if (listSize > this.#maxListSize) throw fail(`header list larger than ${this.#maxListSize} bytes`);
      out.push(field);
    }
    this.#buf = Buffer.alloc(0);
    return out;
  }

  /** `indexed`: the field enters the dynamic table, so raw strings are copied out of the block's buffer. */
  #literal(prefix: number, neverIndex: boolean, indexed: boolean): HeaderField {
    const index = this.#int(prefix);
    const name = index === 0 ? this.#string(indexed) : this.#lookup(index).name;
    const value = this.#string(indexed);
    return { name, value, neverIndex };
  }

  #lookup(index: number): Entry {
    if (index === 0) throw fail('index 0');
    if (index <= STATIC.length) return STATIC[index - 1]!;
    const e = this.#entries[this.#entries.length - (index - STATIC.length)];
    if (!e) throw fail(`index ${index} beyond the dynamic table`);
    return e;
  }

  #insert(name: Buffer, value: Buffer): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    // Section 4.4: an entry larger than the table empties it and is not added.
    this.#evict(size);
    if (size <= this.#max) {
      this.#entries.push({ name, value });
      this.#size += size;
    }
  }

  /** Evicts oldest entries until `room` more bytes fit (section 4.3). */
  #evict(room: number): void {
    let drop = 0;
    while (this.#size + room > this.#max && drop < this.#entries.length) {
      const e = this.#entries[drop++]!;
      this.#size -= e.name.length + e.value.length + ENTRY_OVERHEAD;
    }
    if (drop) this.#entries.splice(0, drop);
  }

  /** Section 5.1 integer with an N-bit prefix; bounded so no shift overflows and no length is absurd. */
  #int(prefix: number): number {
    const buf = this.#buf;
    const mask = (1 << prefix) - 1;
    let v = buf[this.#pos++]! & mask;
    if (v < mask) return v;
    for (let shift = 0; ; shift += 7) {
      if (shift > 21) throw fail('integer too large');
      if (this.#pos >= buf.length) throw fail('truncated integer');
      const b = buf[this.#pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
  }

  /** Section 5.2 string literal; `copy` detaches raw strings from the block buffer. */
  #string(copy: boolean): Buffer {
    if (this.#pos >= this.#buf.length) throw fail('truncated string');
    const huffman = (this.#buf[this.#pos]! & 0x80) !== 0;
    const len = this.#int(7);
    if (len > this.#buf.length - this.#pos) throw fail('string longer than the block');
    const raw = this.#buf.subarray(this.#pos, this.#pos + len);
    this.#pos += len;
    if (huffman) return huffmanDecode(raw);
    return copy ? Buffer.from(raw) : raw;
  }
}
