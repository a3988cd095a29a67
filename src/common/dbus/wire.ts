/**
 * The D-Bus wire format (dbus-specification "Message Protocol"), little
 * endian, for the few calls the systemd cgroup driver makes. Values:
 *
 *     y n q i u   number          x t   bigint         b   boolean
 *     d           number          s o g string
 *     a<T>        T[]             a{KV} [K, V][]       (..) unknown[]
 *     v           Variant { sig, value }
 *
 * A message is a 16-byte fixed header (endian `l`, type, flags, version 1,
 * body length, serial), header fields `a(yv)`, padding to 8, then the body.
 * Every value is aligned to its natural size from the message start (the
 * body starts 8-aligned, so aligning from the body start is the same).
 */

export interface Variant {
  readonly sig: string;
  readonly value: unknown;
}

export const variant = (sig: string, value: unknown): Variant => ({ sig, value });

export const enum MessageType {
  MethodCall = 1,
  MethodReturn = 2,
  Error = 3,
  Signal = 4,
}

export interface Message {
  readonly type: MessageType;
  readonly flags?: number;
  readonly serial: number;
  readonly path?: string;
  readonly interface?: string;
  readonly member?: string;
  readonly errorName?: string;
  readonly replySerial?: number;
  readonly destination?: string;
  readonly sender?: string;
  readonly signature?: string;
  readonly body?: readonly unknown[];
}

/** Longest message accepted (the specification's limit is 128 MiB; ours are small). */
export const MAX_MESSAGE = 1 << 20;
const MAX_DEPTH = 32;

const ALIGN: Record<string, number> = { y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, s: 4, o: 4, g: 1, a: 4, '(': 8, '{': 8, v: 1, h: 4 };

/** The end (exclusive) of the single complete type starting at `i`. */
function typeEnd(sig: string, i: number, depth = 0): number {
  if (depth > MAX_DEPTH) throw new Error('D-Bus signature nested too deep');
  const c = sig[i];
  if (c === undefined) throw new Error(`D-Bus signature "${sig}" ends early`);
  if (c === 'a') return typeEnd(sig, i + 1, depth + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let j = i + 1;
    while (sig[j] !== close) {
      if (j >= sig.length) throw new Error(`D-Bus signature "${sig}" is not closed`);
      j = typeEnd(sig, j, depth + 1);
    }
    if (j === i + 1) throw new Error(`D-Bus signature "${sig}" has an empty struct`);
    return j + 1;
  }
  if (!(c in ALIGN) || c === 'h') throw new Error(`D-Bus signature "${sig}" has unsupported type ${c}`);
  return i + 1;
}

/** Splits a signature into its complete types. */
export function splitSignature(sig: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < sig.length; ) {
    const end = typeEnd(sig, i);
    out.push(sig.slice(i, end));
    i = end;
  }
  return out;
}

class Writer {
  #buf = Buffer.alloc(256);
  length = 0;

  #ensure(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    const next = Buffer.alloc(Math.max(this.#buf.length * 2, this.length + n));
    this.#buf.copy(next, 0, 0, this.length);
    this.#buf = next;
  }

  align(n: number): void {
    const pad = (n - (this.length % n)) % n;
    this.#ensure(pad);
    this.#buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  u8(v: number): void {
    this.#ensure(1);
    this.#buf.writeUInt8(v, this.length);
    this.length += 1;
  }

  u32(v: number): void {
    this.align(4);
    this.#ensure(4);
    this.#buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }

  setU32(at: number, v: number): void {
    this.#buf.writeUInt32LE(v, at);
  }

  write(sig: string, v: unknown): void {
    const c = sig[0]!;
    this.align(ALIGN[c]!);
    switch (c) {
      case 'y':
        return this.u8(num(v, 0, 0xff));
      case 'b':
        if (typeof v !== 'boolean') throw new TypeError('D-Bus b needs a boolean');
        return this.u32(v ? 1 : 0);
      case 'n':
      case 'q': {
        this.#ensure(2);
        if (c === 'n') this.#buf.writeInt16LE(num(v, -0x8000, 0x7fff), this.length);
        else this.#buf.writeUInt16LE(num(v, 0, 0xffff), this.length);
        this.length += 2;
        return;
      }
      case 'i':
        this.#ensure(4);
        this.#buf.writeInt32LE(num(v, -0x80000000, 0x7fffffff), this.length);
        this.length += 4;
        return;
      case 'u':
        return this.u32(num(v, 0, 0xffffffff));
      case 'x':
      case 't': {
        if (typeof v !== 'bigint') throw new TypeError(`D-Bus ${c} needs a bigint`);
        this.#ensure(8);
        if (c === 'x') this.#buf.writeBigInt64LE(v, this.length);
        else this.#buf.writeBigUInt64LE(v, this.length);
        this.length += 8;
        return;
      }
      case 'd':
        if (typeof v !== 'number') throw new TypeError('D-Bus d needs a number');
        this.#ensure(8);
        this.#buf.writeDoubleLE(v, this.length);
        this.length += 8;
        return;
      case 's':
      case 'o':
      case 'g': {
        if (typeof v !== 'string') throw new TypeError(`D-Bus ${c} needs a string`);
        const bytes = Buffer.from(v, 'utf8');
        if (bytes.includes(0)) throw new TypeError('D-Bus strings cannot hold NUL');
        if (c === 'o' && !/^\/$|^(\/[A-Za-z0-9_]+)+$/.test(v)) throw new TypeError(`"${v}" is not a D-Bus object path`);
        if (c === 'g') {
          if (bytes.length > 255) throw new TypeError('D-Bus signature too long');
          this.u8(bytes.length);
        } else this.u32(bytes.length);
        this.#ensure(bytes.length + 1);
        bytes.copy(this.#buf, this.length);
        this.#buf[this.length + bytes.length] = 0;
        this.length += bytes.length + 1;
        return;
      }
      case 'v': {
        const vv = v as Variant;
        if (!vv || typeof vv.sig !== 'string' || splitSignature(vv.sig).length !== 1) throw new TypeError('D-Bus v needs a { sig, value } of one type');
        this.write('g', vv.sig);
        this.write(vv.sig, vv.value);
        return;
      }
      case 'a': {
        const elem = sig.slice(1, typeEnd(sig, 1));
        const items = Array.isArray(v) ? v : v instanceof Map ? [...v.entries()] : undefined;
        if (!items) throw new TypeError('D-Bus a needs an array');
        this.u32(0);
        const lenAt = this.length - 4;
        this.align(ALIGN[elem[0]!]!);
        const start = this.length;
        for (const item of items) this.write(elem, item);
        this.setU32(lenAt, this.length - start);
        return;
      }
      case '(':
      case '{': {
        const fields = splitSignature(sig.slice(1, typeEnd(sig, 0) - 1));
        if (!Array.isArray(v) || v.length !== fields.length) throw new TypeError(`D-Bus ${sig} needs ${fields.length} values`);
        fields.forEach((f, k) => this.write(f, v[k]));
        return;
      }
      default:
        throw new TypeError(`D-Bus type ${c} is not supported`);
    }
  }

  bytes(): Buffer {
    return this.#buf.subarray(0, this.length);
  }
}

function num(v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new TypeError(`D-Bus integer out of range: ${String(v)}`);
  return v;
}

class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
  ) {}

  align(n: number): void {
    this.pos += (n - (this.pos % n)) % n;
    if (this.pos > this.buf.length) throw new Error('D-Bus message truncated');
  }

  #need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('D-Bus message truncated');
  }

  read(sig: string, depth = 0): unknown {
    if (depth > MAX_DEPTH) throw new Error('D-Bus value nested too deep');
    const c = sig[0]!;
    this.align(ALIGN[c] ?? 1);
    const b = this.buf;
    switch (c) {
      case 'y':
        this.#need(1);
        return b.readUInt8(this.pos++);
      case 'b':
      case 'u':
      case 'i': {
        this.#need(4);
        const v = c === 'i' ? b.readInt32LE(this.pos) : b.readUInt32LE(this.pos);
        this.pos += 4;
        if (c === 'b') {
          if (v > 1) throw new Error('D-Bus boolean out of range');
          return v === 1;
        }
        return v;
      }
      case 'n':
      case 'q': {
        this.#need(2);
        const v = c === 'n' ? b.readInt16LE(this.pos) : b.readUInt16LE(this.pos);
        this.pos += 2;
        return v;
      }
      case 'x':
      case 't':
      case 'd': {
        this.#need(8);
        const v = c === 'x' ? b.readBigInt64LE(this.pos) : c === 't' ? b.readBigUInt64LE(this.pos) : b.readDoubleLE(this.pos);
        this.pos += 8;
        return v;
      }
      case 's':
      case 'o':
      case 'g': {
        let len: number;
        if (c === 'g') {
          this.#need(1);
          len = b.readUInt8(this.pos++);
        } else {
          this.#need(4);
          len = b.readUInt32LE(this.pos);
          this.pos += 4;
        }
        this.#need(len + 1);
        if (b[this.pos + len] !== 0) throw new Error('D-Bus string not NUL-terminated');
        const s = b.toString('utf8', this.pos, this.pos + len);
        this.pos += len + 1;
        return s;
      }
      case 'v': {
        const vs = this.read('g') as string;
        if (splitSignature(vs).length !== 1) throw new Error('D-Bus variant must hold one type');
        return variant(vs, this.read(vs, depth + 1));
      }
      case 'a': {
        this.#need(4);
        const len = b.readUInt32LE(this.pos);
        this.pos += 4;
        if (len > MAX_MESSAGE) throw new Error('D-Bus array too long');
        const elem = sig.slice(1, typeEnd(sig, 1));
        this.align(ALIGN[elem[0]!]!);
        const end = this.pos + len;
        if (end > b.length) throw new Error('D-Bus message truncated');
        const out: unknown[] = [];
        while (this.pos < end) out.push(this.read(elem, depth + 1));
        if (this.pos !== end) throw new Error('D-Bus array length mismatch');
        return out;
      }
      case '(':
      case '{':
        return splitSignature(sig.slice(1, typeEnd(sig, 0) - 1)).map((f) => this.read(f, depth + 1));
      default:
        throw new Error(`D-Bus type ${c} is not supported`);
    }
  }
}

const FIELD = { path: 1, interface: 2, member: 3, errorName: 4, replySerial: 5, destination: 6, sender: 7, signature: 8 } as const;
const FIELD_SIG: Record<number, string> = { 1: 'o', 2: 's', 3: 's', 4: 's', 5: 'u', 6: 's', 7: 's', 8: 'g' };

/** Encodes a message; its body is marshalled by `signature`. */
export function encodeMessage(m: Message): Buffer {
  const body = new Writer();
  const sig = m.signature ?? '';
  const types = splitSignature(sig);
  const values = m.body ?? [];
  if (types.length !== values.length) throw new TypeError(`D-Bus body needs ${types.length} values for "${sig}", got ${values.length}`);
  types.forEach((t, k) => body.write(t, values[k]));
  const h = new Writer();
  h.u8(0x6c); // 'l'
  h.u8(m.type);
  h.u8(m.flags ?? 0);
  h.u8(1);
  h.u32(body.length);
  h.u32(m.serial);
  const fields: Array<[number, Variant]> = [];
  for (const [name, code] of Object.entries(FIELD) as Array<[keyof typeof FIELD, number]>) {
    const v = m[name];
    if (v === undefined || (name === 'signature' && v === '')) continue;
    fields.push([code, variant(FIELD_SIG[code]!, v)]);
  }
  h.write('a(yv)', fields);
  h.align(8);
  return Buffer.concat([h.bytes(), body.bytes()]);
}

/** How many bytes the message at the start of `buf` takes; undefined until its fixed header is in. */
export function messageLength(buf: Buffer): number | undefined {
  if (buf.length < 16) return undefined;
  if (buf[0] !== 0x6c) throw new Error('D-Bus peer sent a big-endian or corrupt message');
  const fieldsLen = buf.readUInt32LE(12);
  const bodyLen = buf.readUInt32LE(4);
  const total = Math.ceil((16 + fieldsLen) / 8) * 8 + bodyLen;
  if (total > MAX_MESSAGE) throw new Error(`D-Bus message of ${total} bytes is over the limit`);
  return total;
}

export function decodeMessage(buf: Buffer): Message {
  if (buf[0] !== 0x6c) throw new Error('D-Bus message is not little endian');
  if (buf[3] !== 1) throw new Error('D-Bus protocol version is not 1');
  const r = new Reader(buf, 12);
  const fields = r.read('a(yv)') as Array<[number, Variant]>;
  r.align(8);
  const bodyLen = buf.readUInt32LE(4);
  if (r.pos + bodyLen !== buf.length) throw new Error('D-Bus message length mismatch');
  const out: Record<string, unknown> = { type: buf[1], flags: buf[2], serial: buf.readUInt32LE(8) };
  for (const [code, v] of fields) {
    const name = (Object.keys(FIELD) as Array<keyof typeof FIELD>).find((k) => FIELD[k] === code);
    if (name) out[name] = v.value;
  }
  const sig = (out.signature as string | undefined) ?? '';
  const body = new Reader(buf.subarray(r.pos), 0);
  out.body = splitSignature(sig).map((t) => body.read(t));
  if (body.pos !== bodyLen) throw new Error('D-Bus body longer than its signature');
  return out as unknown as Message;
}
