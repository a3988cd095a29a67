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
  #chunks: Buffer[] = [];
  #size = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #failed: Error | undefined;

  constructor(stream: zlib.Deflate | zlib.Inflate) {
    this.#stream = stream;
    // Flowing mode: output is pushed synchronously before the flush callback
    // fires, so by then `#chunks` holds the whole block.
    stream.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
    });
    stream.on('error', (err) => (this.#failed = err));
  }

  run(input: Buffer): Promise<Buffer> {
    const result = this.#tail.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          if (this.#failed) {
            reject(this.#failed);
            return;
          }
          this.#stream.write(input);
          this.#stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            const out = Buffer.concat(this.#chunks, this.#size);
            this.#chunks = [];
            this.#size = 0;
            if (this.#failed) reject(this.#failed);
            else if (out.length > MAX_HEADER_BYTES) reject(new Error('failed to decode SPDY headers: block too large'));
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
  readonly #inflate = new ZlibPipe(zlib.createInflate({ dictionary: SPDY3_DICTIONARY }));

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
