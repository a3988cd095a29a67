import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { SeqpacketSocket } from 'node-unix-socket';
import type { Ctx } from '../../common/ctx';
import { CriError } from '../../common/errors';
import { log } from '../../common/log';
import { connectablePath } from './socket-path';
import { pumpResizes, type SessionIO } from './session-io';

export interface AttachSessionOptions {
  /** conmon's SEQPACKET attach socket (`Monitor.attachSocket`); long paths are fine. */
  readonly attachSocket: string;
  /** conmon's control FIFO (`Monitor.controlFifo`), for terminal resizes. */
  readonly ctlFifo: string;
  /** The container's own `tty` and `stdin_once` (ContainerConfig), not the request's. */
  readonly tty: boolean;
  readonly stdinOnce: boolean;
}

/** conmon's `stdpipe_t` ids in the first byte of each output packet. */
const STDOUT = 2;
const STDERR = 3;
/** conmon reads client input in 32 KiB packets (`CONN_SOCK_BUF_SIZE`); a larger one would be cut. */
const MAX_PACKET = 32 * 1024;
/**
 * Output queued for a client beyond this is dropped. The streaming server's
 * attach writers already drop (they never push back); this only bounds
 * memory when a caller hands in a plain stream.
 */
export const ATTACH_OUTPUT_LIMIT = 8 * 1024 * 1024;
/** Stop reading the client's stdin while this much is queued for the socket. */
const STDIN_HIGH_WATER = 256 * 1024;

/**
 * An attach (cri-api `Attach`) to a container running under conmon: a client
 * of conmon's attach socket, which fans the container's live output out to
 * every client and feeds client input to the container's stdin.
 *
 * Resolves when the container's output ends (conmon closes its clients when
 * the container exits), when the client detaches, or when `ctx` aborts;
 * never stops the container. Detaching is stdin EOF with a tty or without
 * `stdin_once`. With `stdin_once` and no tty, stdin EOF half-closes the
 * socket, conmon closes the container's stdin, and the session continues
 * until the output ends (containerd `container_io.go`, CRI-O `attach.go`).
 *
 * NOTE: conmon closes the container's stdin whenever any client's connection
 * ends unless it runs with `--leave-stdin-open` (i.e. unless `!stdin_once`),
 * so with `stdin_once` even a client that sent no stdin ends it on leaving.
 *
 * Output is written without waiting: the streaming server's attach writers
 * drop output for a client that does not read rather than push back, so
 * conmon (and the container) never stall on us.
 */
export async function attachSession(opts: AttachSessionOptions, io: SessionIO, ctx: Ctx): Promise<void> {
  ctx.signal.throwIfAborted();
  const sock = new SeqpacketSocket();
  const target = await connectablePath(opts.attachSocket);
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      try {
        sock.connect(target.path, () => {
          sock.off('error', reject);
          resolve();
        });
      } catch (err) {
        reject(err);
      }
    });
  } catch (err) {
    sock.destroy();
    throw new CriError('NotFound', `failed to attach: the container monitor's socket ${opts.attachSocket} is not accepting connections`, { cause: err });
  } finally {
    await target.close();
  }
  const session = new AbortController();
  const ctl = io.tty && io.resize ? await openFifo(opts.ctlFifo) : undefined;
  let stopStdin = (): void => undefined;
  try {
    await new Promise<void>((resolve) => {
      const finish = (): void => resolve();
      sock.on('data', (packet: Buffer) => route(packet, io));
      sock.once('end', finish);
      sock.once('close', finish);
      sock.on('error', (err: Error) => {
        log.debug({ err, socket: opts.attachSocket }, 'attach socket failed');
        finish();
      });
      if (ctx.signal.aborted) finish();
      else ctx.signal.addEventListener('abort', finish, { once: true });
      session.signal.addEventListener('abort', () => ctx.signal.removeEventListener('abort', finish), { once: true });
      if (io.stdin) stopStdin = forwardStdin(io.stdin, sock, opts, finish);
      if (ctl) {
        void pumpResizes(io.resize, session.signal, (s) => {
          // One short line per write is atomic on a FIFO; a full FIFO (conmon stuck) just loses the resize.
          ctl.write(`1 ${s.height} ${s.width}\n`).catch(() => undefined);
        });
      }
    });
  } finally {
    session.abort();
    stopStdin();
    sock.destroy();
    await ctl?.close().catch(() => undefined);
  }
}

function route(packet: Buffer, io: SessionIO): void {
  if (packet.length < 2) return;
  const id = packet[0];
  const w: Writable | undefined = io.tty || id === STDOUT ? io.stdout : id === STDERR ? io.stderr : undefined;
  if (w && !w.destroyed && !w.writableEnded && w.writableLength <= ATTACH_OUTPUT_LIMIT) w.write(packet.subarray(1));
}

/**
 * Client stdin → the container, in packets conmon reads whole, with
 * backpressure on the client. Returns what stops it (the socket is about to go).
 */
function forwardStdin(stdin: Readable, sock: SeqpacketSocket, opts: AttachSessionOptions, detach: () => void): () => void {
  let queued = 0;
  let stopped = false;
  const onData = (chunk: Buffer): void => {
    if (stopped) return;
    for (let off = 0; off < chunk.length; off += MAX_PACKET) {
      const part = chunk.subarray(off, off + MAX_PACKET);
      queued += part.length;
      try {
        sock.write(part, 0, part.length, () => {
          queued -= part.length;
          if (!stopped && queued < STDIN_HIGH_WATER && stdin.isPaused()) stdin.resume();
        });
      } catch {
        // conmon went away; the socket's `close` ends the session.
        return;
      }
    }
    if (queued >= STDIN_HIGH_WATER) stdin.pause();
  };
  const onEnd = (): void => {
    stdin.off('data', onData);
    if (opts.stdinOnce && !opts.tty) sock.end();
    else detach();
  };
  stdin.on('data', onData);
  stdin.once('end', onEnd);
  return () => {
    stopped = true;
    stdin.off('data', onData);
    stdin.off('end', onEnd);
  };
}

/**
 * The control FIFO for writing, without blocking: `O_NONBLOCK` fails with
 * ENXIO instead of hanging when conmon is gone (resizes are then dropped).
 */
async function openFifo(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (err) {
    log.debug({ err, path }, 'failed to open the control FIFO; terminal resizes are ignored');
    return undefined;
  }
}
