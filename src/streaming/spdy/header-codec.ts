import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary';
import { decodeNameValues, encodeNameValues } from './frames';

/** Header blocks decompress to at most this much (spdystream's per-field limit is 1 MiB). */
const MAX_HEADER_BYTES = 1 << 20;

/**
 * One zlib context per direction for the whole connection, preset with the
 * SPDY/3 dictionary; every block ends with a Z_SYNC_FLUSH and the context is
 * never reset, because the peer decodes each block against all earlier ones.
 * Node's zlib streams are asynchronous, so operations are serialised per
 * context: block N's bytes must be on the wire before block N+1's.
 */
class ZlibPipe {
  readonly #stream: zlib.Deflate | zlib.Inflate;
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #size = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #failed: Error | undefined;
  #fail: ((err: Error) => void) | undefined;

  constructor(stream: zlib.Deflate | zlib.Inflate, limit = Infinity) {
    this.#stream = stream;
    this.#limit = limit;
    // Flowing mode: output is pushed synchronously before the flush callback
    // fires, so by then `#chunks` holds the whole block. The output is
    // counted as it comes (zlib hands it over in 16 KiB chunks): past the
    // limit the context is destroyed at once, so a small "zip bomb" block
    // is never inflated beyond it.
    stream.on('data', (chunk: Buffer) => {
      if (this.#failed) return;
      this.#size += chunk.length;
      if (this.#size > this.#limit) {
        this.#chunks = [];
        this.#failed = new Error('failed to decode SPDY headers: block too large');
        this.#fail?.(this.#failed);
        stream.destroy();
        return;
      }
      this.#chunks.push(chunk);
    });
    stream.on('error', (err) => {
      this.#failed ??= err;
      this.#fail?.(this.#failed);
    });
  }

  run(input: Buffer): Promise<Buffer> {
    const result = this.#tail.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          if (this.#failed) {
            reject(this.#failed);
            return;
          }
          this.#fail = reject;
          this.#stream.write(input);
          this.#stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            this.#fail = undefined;
            const out = Buffer.concat(this.#chunks, this.#size);
            this.#chunks = [];
            this.#size = 0;
            if (this.#failed) reject(this.#failed);
            else resolve(out);
          });
        }),
    );
    this.#tail = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.#stream.destroy();
  }
}

export class HeaderCodec {
  readonly #deflate = new ZlibPipe(zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, level: zlib.constants.Z_BEST_COMPRESSION }));
  readonly #inflate = new ZlibPipe(zlib.createInflate({ dictionary: SPDY3_DICTIONARY }), MAX_HEADER_BYTES);

  encode(headers: ReadonlyMap<string, string>): Promise<Buffer> {
    return this.#deflate.run(encodeNameValues(headers));
  }

  async decode(block: Buffer): Promise<Map<string, string>> {
    return decodeNameValues(await this.#inflate.run(block));
  }

  close(): void {
    this.#deflate.close();
    this.#inflate.close();
  }
}
