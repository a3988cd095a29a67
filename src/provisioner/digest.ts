import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { CriError } from '../common/errors';

export const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Fails unless `data` hashes to `digest`. */
export function verifyDigest(data: Buffer, digest: string, what: string): void {
  const got = sha256(data);
  if (got !== digest) throw mismatch(what, digest, got);
}

export const mismatch = (what: string, want: string, got: string): CriError =>
  new CriError('Internal', `failed to verify ${what}: digest mismatch: expected ${want}, got ${got}`);

/** A pass-through that hashes and counts what flows through it. */
export class DigestingStream extends Transform {
  readonly #hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly onBytes: (n: number) => void = () => undefined) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes(chunk.length);
    cb(null, chunk);
  }

  digest(): string {
    return `sha256:${this.#hash.digest('hex')}`;
  }
}
