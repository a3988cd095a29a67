import { spawn } from 'node:child_process';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CriError } from '../../common/errors';
import type { Compression } from '../store/media-types';

/**
 * The compression a layer really has, from its first bytes, as containerd's
 * `compression.DetectCompression` does: media types are not trusted (an
 * uncompressed layer labelled gzip is common and must unpack). bzip2 and xz
 * are recognised to refuse them by name; anything else is taken as a tar.
 */
export function sniffCompression(head: Buffer): Compression | 'bzip2' | 'xz' {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

/** A pass-through that fails once more than `max` bytes went through it (`what` names the stream). */
export class ByteLimit extends Transform {
  bytes = 0;

  constructor(
    readonly max: number,
    readonly what: string,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) cb(new CriError('InvalidArgument', `${this.what} exceeds ${this.max} bytes`));
    else cb(null, chunk);
  }
}

/**
 * Pipes `first` through `rest` and returns the last stream; an error in any
 * stage destroys the last one with that error (plain `pipe` would leave it
 * unhandled, which kills the process), and `destroyAll` closes every stage.
 */
export function chain(first: Readable, ...rest: Transform[]): { out: Readable; destroyAll: () => void } {
  const all: Array<Readable | Transform> = [first, ...rest];
  const out = all[all.length - 1]!;
  for (const s of all) {
    if (s !== out) s.on('error', (err: Error) => out.destroy(err));
  }
  let cur: Readable = first;
  for (const s of rest) cur = cur.pipe(s);
  return { out, destroyAll: () => all.forEach((s) => s.destroy()) };
}

/**
 * Turns a compressed layer stream into a tar stream. gzip uses zlib (on the
 * thread pool, so it overlaps with extraction); zstd has no Node 20 binding,
 * so Debian's `zstd -dc` runs as a filter process. Errors of the child are
 * surfaced on the returned stream.
 */
export function decompress(input: Readable, compression: Compression): Readable {
  if (compression === 'none') return input.pipe(new PassThrough({ highWaterMark: 1 << 20 }));
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 256 << 10 });
    input.on('error', (err) => gunzip.destroy(err));
    return input.pipe(gunzip);
  }
  const child = spawn('zstd', ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  input.on('error', (err) => {
    child.kill('SIGKILL');
    out.destroy(err);
  });
  child.stdin.on('error', () => undefined); // EPIPE when zstd exits early; reported by `close`.
  input.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  let stdoutDone = false;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const finish = (): void => {
    if (!stdoutDone || !exit) return;
    if (exit.code === 0) out.end();
    else out.destroy(new Error(`failed to decompress zstd layer: zstd exited ${exit.signal ?? String(exit.code)}: ${Buffer.concat(stderr).toString().trim()}`));
  };
  child.stdout.on('end', () => {
    stdoutDone = true;
    finish();
  });
  child.on('error', (err) => out.destroy(new Error('failed to start zstd', { cause: err })));
  child.on('close', (code, signal) => {
    exit = { code, signal };
    stdoutDone = true;
    finish();
  });
  out.on('close', () => {
    if (!exit) child.kill('SIGKILL');
  });
  return out;
}
