import type {
  handleServerStreamingCall,
  handleUnaryCall,
  sendUnaryData,
  ServerUnaryCall,
  ServerWritableStream,
} from '@grpc/grpc-js';
import { status as Status } from '@grpc/grpc-js';
import { CriError, describeError } from '../common/errors';
import { log } from '../common/log';
import { rpcDone, rpcStart, type RpcName } from '../common/metrics';
import { toGrpcStatus } from './grpc-status';

/** What every handler gets: the call's cancellation/deadline as one signal. */
export interface CallCtx {
  readonly signal: AbortSignal;
  readonly rpc: string;
}

export type UnaryHandler<Req, Res> = (req: Req, ctx: CallCtx) => Promise<Res>;
export type StreamHandler<Req, Res> = (req: Req, send: (res: Res) => Promise<void>, ctx: CallCtx) => Promise<void>;

export interface Gate {
  /** `undefined` when serving; otherwise the reason calls get UNAVAILABLE. */
  notReady(): string | undefined;
}

/** IDs worth a log field, taken from the request without knowing its type. */
function idsOf(req: unknown): Record<string, unknown> {
  if (typeof req !== 'object' || req === null) return {};
  const r = req as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['pod_sandbox_id', 'container_id']) if (typeof r[k] === 'string' && r[k]) out[k] = r[k];
  return out;
}

/** Longer waits than a timer can hold (2^31-1 ms, ~24 days) are no deadline at all. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The call's cancellation and deadline as one signal (a deadline's reason
 * is a `TimeoutError`, as `AbortSignal.timeout` gives); `end()` once the
 * call is answered: it clears the deadline's timer, and grpc-js reports
 * 'cancelled' for calls that already ended too, which need no error (nor
 * its stack). One controller and one plain timer per call: cheaper than
 * `AbortSignal.timeout` joined by `AbortSignal.any`.
 */
function callSignal(rpc: string, cancelled: (cb: () => void) => void, deadline: Date | number): { signal: AbortSignal; end(): void } {
  const abort = new AbortController();
  let ended = false;
  cancelled(() => {
    if (!ended) abort.abort(new CriError('Canceled', `${rpc} cancelled by the client`));
  });
  const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : deadline === Infinity ? Infinity : deadline - Date.now();
  const timer =
    ms <= MAX_TIMER_MS
      ? setTimeout(() => abort.abort(new DOMException(`${rpc} passed its deadline`, 'TimeoutError')), Math.max(0, ms)).unref()
      : undefined;
  return {
    signal: abort.signal,
    end: () => {
      ended = true;
      clearTimeout(timer);
    },
  };
}

/** The metrics' name of an RPC: `/runtime.v1.RuntimeService/Version` → service and method. */
function rpcName(rpc: string, path: string | undefined, type: RpcName['type']): RpcName {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path ?? '');
  return { service: m?.[1] ?? '', method: m?.[2] ?? rpc, type };
}

function finish(rpc: string, name: RpcName, req: unknown, start: bigint, err?: unknown): void {
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const fields = { rpc, duration_ms: Math.round(ms * 1000) / 1000, ...idsOf(req) };
  if (err === undefined) {
    log.debug(fields, 'rpc done');
    rpcDone(name, 'OK', ms / 1000);
  } else {
    const st = toGrpcStatus(err);
    const level = st.code === Status.NOT_FOUND || st.code === Status.UNIMPLEMENTED ? 'info' : 'error';
    log[level]({ ...fields, code: Status[st.code], error: describeError(err) }, 'rpc failed');
    rpcDone(name, Status[st.code] ?? 'UNKNOWN', ms / 1000);
  }
}

/**
 * One wrapper per unary RPC (containerd `instrumented_service.go`): readiness,
 * cancellation and deadline, rejection catching, logging, status mapping.
 * grpc-js only catches synchronous throws, so async rejections are caught here.
 */
export function unary<Req, Res>(rpc: string, gate: Gate, fn: UnaryHandler<Req, Res>, path?: string): handleUnaryCall<Req, Res> {
  const name = rpcName(rpc, path, 'unary');
  return (call: ServerUnaryCall<Req, Res>, done: sendUnaryData<Res>): void => {
    const start = process.hrtime.bigint();
    rpcStart(name);
    const why = gate.notReady();
    if (why !== undefined) {
      rpcDone(name, 'UNAVAILABLE', 0);
      done({ code: Status.UNAVAILABLE, details: why });
      return;
    }
    const { signal, end } = callSignal(rpc, (cb) => call.on('cancelled', cb), call.getDeadline());
    let p: Promise<Res>;
    try {
      p = fn(call.request, { signal, rpc });
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (res) => {
        end();
        finish(rpc, name, call.request, start);
        done(null, res);
      },
      (err: unknown) => {
        end();
        const e = signal.aborted && !(err instanceof CriError) ? signal.reason : err;
        finish(rpc, name, call.request, start, e);
        done(toGrpcStatus(e));
      },
    );
  };
}

/** The server-streaming twin of `unary`; `send` honours backpressure. */
export function serverStream<Req, Res>(rpc: string, gate: Gate, fn: StreamHandler<Req, Res>, path?: string): handleServerStreamingCall<Req, Res> {
  const name = rpcName(rpc, path, 'server_stream');
  return (call: ServerWritableStream<Req, Res>): void => {
    const start = process.hrtime.bigint();
    rpcStart(name);
    const why = gate.notReady();
    if (why !== undefined) {
      rpcDone(name, 'UNAVAILABLE', 0);
      call.destroy(Object.assign(new Error(why), { code: Status.UNAVAILABLE, details: why }));
      return;
    }
    const { signal, end } = callSignal(rpc, (cb) => call.on('cancelled', cb), call.getDeadline());
    const send = (res: Res): Promise<void> =>
      new Promise((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason as Error);
        if (call.write(res)) resolve();
        else call.once('drain', () => resolve());
      });
    Promise.resolve()
      .then(() => fn(call.request, send, { signal, rpc }))
      .then(
        () => {
          end();
          finish(rpc, name, call.request, start);
          call.end();
        },
        (err: unknown) => {
          end();
          finish(rpc, name, call.request, start, err);
          if (!call.cancelled) call.emit('error', toGrpcStatus(err));
        },
      );
  };
}

export const unimplemented =
  (rpc: string) =>
  async (): Promise<never> => {
    throw new CriError('Unimplemented', `${rpc} is not implemented by mesos-cri`);
  };
