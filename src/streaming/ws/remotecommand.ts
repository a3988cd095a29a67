import type { WebSocket } from 'ws';
import { endAndWait, lossyWritable } from '../io';
import type { RemoteCommandVersion } from '../protocols';
import type { AttachRequest, ExecRequest } from '../request-cache';
import { resizeQueueFrom } from '../resize';
import type { StreamIO, StreamRuntime } from '../runtime';
import { runSession } from '../session-runner';
import { encodeStatus } from '../session-outcome';
import { ChannelMux } from './channels';

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;

export interface WsCommandOptions {
  readonly runtime: StreamRuntime;
  readonly request: ExecRequest | AttachRequest;
  readonly version: RemoteCommandVersion;
  /** Aborted when the streaming server stops. */
  readonly signal: AbortSignal;
}

/**
 * Serves exec/attach over a channel WebSocket (kubelet
 * `remotecommand/websocket.go`, plus v5 as CRI-O does): channels 0–4 are
 * stdin, stdout, stderr, status and resize; the status goes on channel 3 and
 * the socket is then closed with 1000, the only ending client-go treats as
 * a clean end of stdout and stderr.
 */
export async function serveWsCommand(ws: WebSocket, opts: WsCommandOptions): Promise<void> {
  const { request, version } = opts;
  const mux = new ChannelMux(ws, { base64: version.base64, closeSignal: version.closeSignal });
  const ctx = { signal: AbortSignal.any([mux.signal, opts.signal]) };
  const onAbort = (): void => mux.terminate();
  opts.signal.addEventListener('abort', onAbort);
  try {
    const wantStderr = request.stderr && !request.tty;
    const stdout = request.stdout ? mux.channel(STDOUT) : undefined;
    const stderr = wantStderr ? mux.channel(STDERR) : undefined;
    // The reference opens with an empty message on the lowest writable channel.
    mux.send(stdout ? STDOUT : stderr ? STDERR : ERROR, Buffer.alloc(0));
    const attach = request.kind === 'attach';
    const io: StreamIO = {
      tty: request.tty,
      stdin: request.stdin ? mux.channel(STDIN) : undefined,
      stdout: stdout && attach ? lossyWritable(stdout) : stdout,
      stderr: stderr && attach ? lossyWritable(stderr) : stderr,
      resize: request.tty ? resizeQueueFrom(mux.channel(RESIZE)) : undefined,
    };
    const outcome = await runSession(opts.runtime, request, io, ctx);
    await Promise.all([io.stdout && endAndWait(io.stdout), io.stderr && endAndWait(io.stderr)]);
    const status = encodeStatus(outcome, version.jsonStatus ? 'json' : 'text');
    if (status) mux.send(ERROR, status);
    await mux.close(1000);
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
}
