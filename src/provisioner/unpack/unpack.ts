import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { nativeBinary } from '../../common/native';

/**
 * Extraction of one layer tar into its own directory, with whiteouts
 * converted to overlay form (char device 0/0 for `.wh.NAME`, xattr
 * `trusted.overlay.opaque=y` for `.wh..wh..opq`), which every backend reads
 * (the copy backend applies them as deletions, listed in `LayerInfo`).
 *
 * The work is done by `native/mesos-cri-unpack` (libarchive for the tar
 * formats real tools write; see its header for the security rules): every
 * entry is placed relative to a directory fd resolved with
 * `openat2(RESOLVE_IN_ROOT)`, never by a host path, and nothing but
 * directory times (re-checked by inode) waits for the end of the archive.
 * Refused: names with `..`, hardlinks to directories or outside the layer,
 * headers libarchive finds damaged, PAX/GNU extension headers over 1 MiB
 * (libarchive's limit, as Go's), `trusted.*` xattrs (dropped, not refused).
 * Device nodes are created only when we run as root; otherwise skipped.
 */
export interface LayerInfo {
  /** Paths (relative, '/'-joined) hidden by whiteouts. */
  readonly whiteouts: string[];
  /** Directories whose lower content is hidden. */
  readonly opaques: string[];
}

export interface UnpackOptions {
  /** Create device nodes; default: when running as root. */
  readonly devices?: boolean;
}

export const UNPACK_HELPER = process.env.MESOS_CRI_UNPACK_HELPER ?? nativeBinary('mesos-cri-unpack');

const MAX_STDERR = 16 << 10;

/**
 * Streams `tar` into the helper. Rejects with an `InvalidArgument` naming
 * the entry and the reason when the layer is bad, with the stream's own
 * error when the input fails (decompressor, digest, size limits), and with
 * the abort reason when `ctx` is aborted. Never leaves the helper running.
 */
export async function unpackLayer(tar: Readable, root: string, ctx: Ctx, opts: UnpackOptions = {}): Promise<LayerInfo> {
  ctx.signal.throwIfAborted();
  await mkdir(root, { recursive: true });
  const devices = opts.devices ?? process.getuid?.() === 0;
  const child = spawn(UNPACK_HELPER, [...(devices ? [] : ['--no-devices']), root], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let errBytes = 0;
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => {
    if (errBytes < MAX_STDERR) err.push(b);
    errBytes += b.length;
  });
  // The helper may exit (bad entry) before reading everything: EPIPE is reported by `close`.
  child.stdin.on('error', () => undefined);

  let inputError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', (e) => reject(new CriError('Internal', `failed to start layer unpack helper ${UNPACK_HELPER}`, { cause: e })));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const kill = (e: Error): void => {
    inputError ??= e;
    tar.unpipe(child.stdin);
    child.kill('SIGKILL');
  };
  const onAbort = (): void => kill(ctx.signal.reason as Error);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  tar.on('error', kill);
  tar.pipe(child.stdin);
  try {
    const { code, signal } = await exited;
    ctx.signal.throwIfAborted();
    if (inputError) throw inputError;
    if (code !== 0) {
      const msg = Buffer.concat(err).toString().trim() || `helper exited ${signal ?? String(code)}`;
      // A full disk is the node's problem, not the image's.
      const full = /No space left on device|Disk quota exceeded/.test(msg);
      throw new CriError(full ? 'ResourceExhausted' : code === 1 ? 'InvalidArgument' : 'Internal', `failed to unpack layer: ${msg}`);
    }
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    // An error of the input already on its way (a stream destroyed with an
    // error emits it on a later tick, e.g. zlib's after the helper exited)
    // must find a listener: without one it would kill the daemon.
    tar.on('error', () => undefined);
    tar.off('error', kill);
    if (!tar.destroyed) tar.destroy();
  }
  return parseRecords(Buffer.concat(out));
}

/** `w<path>\0` (whiteout) and `o<path>\0` (opaque directory) records. */
export function parseRecords(buf: Buffer): LayerInfo {
  const info: LayerInfo = { whiteouts: [], opaques: [] };
  let start = 0;
  for (let i = buf.indexOf(0, start); i >= 0; start = i + 1, i = buf.indexOf(0, start)) {
    const kind = buf[start];
    const path = buf.subarray(start + 1, i).toString();
    if (kind === 0x77) info.whiteouts.push(path);
    else if (kind === 0x6f) info.opaques.push(path);
  }
  return info;
}
