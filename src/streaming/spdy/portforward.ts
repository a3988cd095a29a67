import { log } from '../../common/log';
import { describeError } from '../../common/errors';
import type { PortForwardRequest } from '../request-cache';
import type { StreamRuntime } from '../runtime';
import { RstStatus } from './frames';
import type { SpdyStream } from './stream';

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export interface PortForwardHandlerOptions {
  readonly runtime: StreamRuntime;
  readonly request: PortForwardRequest;
  readonly streamTimeoutMs: number;
  /** Aborted when the connection is gone or the server stops. */
  readonly signal: AbortSignal;
}

/** Parses a `port` header: a decimal uint16 of at least 1, as the reference requires. */
export function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/**
 * Port-forward over SPDY (kubelet `portforward/httpstream.go`). For every
 * local connection the client opens an `error` and a `data` stream carrying
 * the same `port` and `requestid`; once both are there we dial the port in
 * the pod and relay. Connections and ports are independent of each other
 * and may overlap freely. Returns the per-stream callback for `SpdySession`.
 */
export function portForwardStreamHandler(opts: PortForwardHandlerOptions): (stream: SpdyStream) => boolean {
  const pairs = new Map<string, Pair>();
  const allowed = new Set(opts.request.ports);
  return (stream) => {
    const type = stream.header('streamtype');
    const port = parsePort(stream.header('port'));
    if ((type !== 'data' && type !== 'error') || port === undefined) return false;
    if (allowed.size > 0 && !allowed.has(port)) {
      log.debug({ port, sandbox: opts.request.podSandboxId }, 'refusing port-forward to a port not in the request');
      return false;
    }
    // Old clients send no `requestid`; pair them the way the reference does.
    const requestId = stream.header('requestid') ?? String(type === 'error' ? stream.id : stream.id - 2);
    let pair = pairs.get(requestId);
    if (!pair) {
      const timer = setTimeout(() => {
        pairs.delete(requestId);
        const p = pair!;
        p.error?.end('timed out waiting for streams');
        p.data?.reset(RstStatus.Cancel);
      }, opts.streamTimeoutMs);
      timer.unref();
      pair = { timer };
      pairs.set(requestId, pair);
    }
    if (pair[type] !== undefined) return false;
    pair[type] = stream;
    if (pair.data && pair.error) {
      clearTimeout(pair.timer);
      pairs.delete(requestId);
      void relay(opts, port, pair.data, pair.error);
    }
    return true;
  };
}

async function relay(opts: PortForwardHandlerOptions, port: number, data: SpdyStream, error: SpdyStream): Promise<void> {
  // The client half-closes `error` at once and only reads it.
  error.resume();
  try {
    await opts.runtime.portForward(opts.request.podSandboxId, port, data, { signal: opts.signal });
    data.end();
    error.end();
  } catch (err) {
    if (opts.signal.aborted) return;
    const msg = `error forwarding port ${port} to pod ${opts.request.podSandboxId}, uid : ${describeError(err)}`;
    log.debug({ port, sandbox: opts.request.podSandboxId, err }, 'port-forward failed');
    error.end(msg);
    data.reset(RstStatus.Cancel);
  }
}
