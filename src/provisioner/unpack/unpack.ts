import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { background, type Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { nativeBinary } from '../../common/native';
import type { SpawnServer } from '../../common/spawn-server';

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
  /** Starts the helper without forking the daemon (a fork stalls its loop for milliseconds); default: forked. */
  readonly spawner?: SpawnServer;
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
  // The input may fail while the helper starts: its error must find a listener from the start.
  let inputError: Error | undefined;
  const early = (e: Error): void => {
    inputError ??= e;
  };
  tar.on('error', early);
  const devices = opts.devices ?? process.getuid?.() === 0;
  const args = [...(devices ? [] : ['--no-devices']), root];
  await mkdir(root, { recursive: true });
  let child: Helper;
  try {
    child = opts.spawner ? await opts.spawner.piped(UNPACK_HELPER, args, [0, 1, 2], background()) : await forked(args);
  } catch (e) {
    tar.on('error', () => undefined);
    tar.off('error', early);
    if (!tar.destroyed) tar.destroy();
    throw new CriError('Internal', `failed to start layer unpack helper ${UNPACK_HELPER}`, { cause: e });
  }
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let errBytes = 0;
  const stdin = child.stdin!;
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => {
    if (errBytes < MAX_STDERR) err.push(b);
    errBytes += b.length;
  });
  // The helper may exit (bad entry) before reading everything: EPIPE is reported by `close`.
  stdin.on('error', () => undefined);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
  });
  const kill = (e: Error): void => {
    inputError ??= e;
    tar.unpipe(stdin);
    child.kill();
  };
  const onAbort = (): void => kill(ctx.signal.reason as Error);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort();
  tar.on('error', kill);
  tar.off('error', early);
  // Failed, or ended without its end reaching us, while the helper started: nothing will come.
  if (inputError || tar.destroyed) kill(inputError ?? new Error('the layer stream closed early'));
  tar.pipe(stdin);
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

/** The helper's process, as the spawn server or a fork of the daemon starts it. */
interface Helper {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** SIGKILL. */
  kill(): void;
  on(event: 'close', fn: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

/** Forked from the daemon, started once it exec'd. */
function forked(args: string[]): Promise<Helper> {
  const child = spawn(UNPACK_HELPER, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const helper: Helper = {
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    kill: () => child.kill('SIGKILL'),
    on: (event, fn) => child.on(event, fn),
  };
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => {
      child.off('error', reject);
      resolve(helper);
    });
  });
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
