import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { log } from '../../common/log';
import { endAndWait, lossyWritable } from '../io';
import { SPDY_REMOTE_COMMAND, describeVersion } from '../protocols';
import type { AttachRequest, ExecRequest } from '../request-cache';
import { resizeQueueFrom } from '../resize';
import type { StreamIO, StreamRuntime } from '../runtime';
import { runSession } from '../session-runner';
import { encodeStatus } from '../session-outcome';
import { SpdySession } from './session';
import type { SpdyStream } from './stream';
import { upgradeToSpdy } from './upgrade';

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';
const STREAM_TYPES: readonly string[] = ['error', 'stdin', 'stdout', 'stderr', 'resize'];

export interface SpdyCommandOptions {
  readonly runtime: StreamRuntime;
  readonly request: ExecRequest | AttachRequest;
  /** Aborted when the streaming server stops. */
  readonly signal: AbortSignal;
  /** How long the client gets to open every stream it must (kubelet: 30s). */
  readonly streamTimeoutMs: number;
}

/**
 * Serves exec/attach over SPDY (kubelet `remotecommand/httpstream.go`): the
 * client opens `error`, then `stdin`/`stdout`/`stderr`/`resize` as the cached
 * request says; once all are there the session runs, its status goes on
 * `error`, and the connection is closed.
 */
export async function serveSpdyCommand(req: IncomingMessage, socket: Duplex, head: Buffer, opts: SpdyCommandOptions): Promise<void> {
  const protocol = upgradeToSpdy(req, socket, SPDY_REMOTE_COMMAND);
  if (protocol === undefined) return;
  const version = describeVersion(protocol);
  const { request } = opts;
  const expected = new Set<StreamType>(['error']);
  if (request.stdin) expected.add('stdin');
  if (request.stdout) expected.add('stdout');
  if (request.stderr && !request.tty) expected.add('stderr');
  if (request.tty && version.version >= 3) expected.add('resize');

  const streams = new Map<StreamType, SpdyStream>();
  let ready!: () => void;
  const allThere = new Promise<void>((resolve) => (ready = resolve));
  const session = new SpdySession(socket, {
    head,
    onStream: (stream) => {
      const type = stream.header('streamtype') ?? '';
      if (!STREAM_TYPES.includes(type) || !expected.has(type as StreamType) || streams.has(type as StreamType)) {
        // Unknown or unrequested streams are tolerated but unused, as in the reference.
        stream.resume();
        return true;
      }
      streams.set(type as StreamType, stream);
      if (streams.size === expected.size) ready();
      return true;
    },
  });
  const ctx = { signal: AbortSignal.any([session.signal, opts.signal]) };
  const onAbort = (): void => session.destroy();
  opts.signal.addEventListener('abort', onAbort);
  try {
    const timedOut = await waitOrTimeout(allThere, opts.streamTimeoutMs, ctx.signal);
    if (timedOut) {
      if (!ctx.signal.aborted) log.warn({ containerId: request.containerId, got: [...streams.keys()] }, 'timed out waiting for client to create streams');
      session.destroy();
      return;
    }
    if (ctx.signal.aborted) return;
    const errorStream = streams.get('error')!;
    errorStream.resume(); // the client never writes here, but drain it anyway
    const attach = request.kind === 'attach';
    const stdout = streams.get('stdout');
    const stderr = streams.get('stderr');
    const resize = streams.get('resize');
    const io: StreamIO = {
      tty: request.tty,
      stdin: streams.get('stdin'),
      stdout: stdout && attach ? lossyWritable(stdout) : stdout,
      stderr: stderr && attach ? lossyWritable(stderr) : stderr,
      resize: resize ? resizeQueueFrom(resize) : undefined,
    };
    const outcome = await runSession(opts.runtime, request, io, ctx);
    await Promise.all([io.stdout && endAndWait(io.stdout), io.stderr && endAndWait(io.stderr)]);
    const status = encodeStatus(outcome, version.jsonStatus ? 'json' : 'text');
    if (status) errorStream.write(status);
    await endAndWait(errorStream);
    await session.close();
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
}

/** Resolves true on timeout, false when `p` settles or `signal` aborts first. */
export function waitOrTimeout(p: Promise<void>, ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(true), ms);
    const onAbort = (): void => finish(false);
    const finish = (timedOut: boolean): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(timedOut);
    };
    signal.addEventListener('abort', onAbort);
    if (signal.aborted) finish(false);
    void p.then(() => finish(false));
  });
}
