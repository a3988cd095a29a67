import { gzipSync } from 'node:zlib';
import { digestOf, type BuiltLayer } from './images';

/**
 * A tar writer with no opinions, for hostile and odd layers: names are raw
 * bytes (`..`, absolute, 4096 bytes, not UTF-8), sizes may lie, PAX records
 * are raw, end blocks may be left out. Each entry is one 512-byte ustar (or
 * v7) header, optional PAX header before it, data padded to 512.
 */
export interface RawEntry {
  readonly name: string | Buffer;
  /** Tar typeflag: '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo, 'x' pax, 'L' GNU long name... */
  readonly type?: string;
  readonly data?: Buffer | string;
  /** The size field, when it must differ from the data length. */
  readonly size?: number;
  readonly linkname?: string | Buffer;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: number;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** PAX records written in an 'x' header before this entry. */
  readonly pax?: Record<string, string | Buffer>;
  /** v7 header: no ustar magic. */
  readonly v7?: boolean;
}

const octal = (n: number, width: number): string => n.toString(8).padStart(width - 1, '0');

export function header(e: RawEntry): Buffer {
  const h = Buffer.alloc(512);
  const name = Buffer.isBuffer(e.name) ? e.name : Buffer.from(e.name);
  name.copy(h, 0, 0, Math.min(100, name.length));
  const type = e.type ?? '0';
  h.write(octal(e.mode ?? (type === '5' ? 0o755 : 0o644), 8), 100, 'latin1');
  h.write(octal(e.uid ?? 0, 8), 108, 'latin1');
  h.write(octal(e.gid ?? 0, 8), 116, 'latin1');
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
  h.write(octal(e.size ?? data.length, 12), 124, 'latin1');
  h.write(octal(e.mtime ?? 1_700_000_000, 12), 136, 'latin1');
  h.write(type, 156, 'latin1');
  if (e.linkname !== undefined) (Buffer.isBuffer(e.linkname) ? e.linkname : Buffer.from(e.linkname)).copy(h, 157, 0, 100);
  if (!e.v7) {
    h.write('ustar\u000000', 257, 'latin1');
    h.write(octal(e.devmajor ?? 0, 8), 329, 'latin1');
    h.write(octal(e.devminor ?? 0, 8), 337, 'latin1');
  }
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${octal(sum, 7)}\u0000`, 148, 'latin1');
  return h;
}

const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);

export function paxRecords(records: Record<string, string | Buffer>): Buffer {
  const out: Buffer[] = [];
  for (const [k, v] of Object.entries(records)) {
    const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.isBuffer(v) ? v : Buffer.from(v), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    out.push(Buffer.from(String(len)), body);
  }
  return Buffer.concat(out);
}

export function rawTar(entries: readonly RawEntry[], opts: { end?: boolean } = {}): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) {
      const body = paxRecords(e.pax);
      out.push(header({ name: 'PaxHeaders/x', type: 'x', data: body }), body, pad(body.length));
    }
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    out.push(header(e), data, pad(data.length));
  }
  if (opts.end ?? true) out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

/** A layer blob (gzip by default) with its diff id; `mediaType` may lie on purpose. */
export function rawLayer(tar: Buffer, o: { compress?: boolean; mediaType?: string; data?: Buffer } = {}): BuiltLayer {
  const data = o.data ?? (o.compress === false ? tar : gzipSync(tar, { level: 1 }));
  return { digest: digestOf(data), size: data.length, data, mediaType: o.mediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip', diffId: digestOf(tar) };
}
