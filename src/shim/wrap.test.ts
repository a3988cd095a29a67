import { status as Status, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CriError } from '../common/errors';
import { setLogSink } from '../common/log';
import { unary, unimplemented } from './wrap';

function fakeCall<Req>(request: Req, deadline: Date | number = Infinity) {
  const ee = new EventEmitter();
  return Object.assign(ee, { request, getDeadline: () => deadline }) as unknown as ServerUnaryCall<Req, unknown> & EventEmitter;
}

function invoke<Req, Res>(h: ReturnType<typeof unary<Req, Res>>, call: ServerUnaryCall<Req, Res>) {
  return new Promise<{ err: Partial<ServiceError> | null; res?: Res | null }>((resolve) => {
    const done: sendUnaryData<Res> = (err, res) => resolve({ err: err as Partial<ServiceError> | null, res });
    h(call, done);
  });
}

const ready = { notReady: () => undefined };

describe('unary wrapper', () => {
  it('maps CriError codes to gRPC status codes', async () => {
    const cases: Array<[CriError, Status]> = [
      [new CriError('NotFound', 'container "x" not found'), Status.NOT_FOUND],
      [new CriError('AlreadyExists', 'x'), Status.ALREADY_EXISTS],
      [new CriError('InvalidArgument', 'x'), Status.INVALID_ARGUMENT],
      [new CriError('FailedPrecondition', 'x'), Status.FAILED_PRECONDITION],
      [new CriError('Unavailable', 'x'), Status.UNAVAILABLE],
      [new CriError('DeadlineExceeded', 'x'), Status.DEADLINE_EXCEEDED],
    ];
    for (const [err, code] of cases) {
      const h = unary('T', ready, async () => {
        throw new Error('failed to do a thing', { cause: err });
      });
      const { err: e } = await invoke(h, fakeCall({}));
      expect(e?.code).toBe(code);
      expect(e?.details).toContain('failed to do a thing');
    }
  });

  it('catches rejections and synchronous throws as UNKNOWN', async () => {
    const h = unary('T', ready, () => {
      throw new Error('boom');
    });
    const { err } = await invoke(h, fakeCall({}));
    expect(err?.code).toBe(Status.UNKNOWN);
    expect(err?.details).toBe('boom');
  });

  it('answers UNAVAILABLE while the gate is closed, without calling the handler', async () => {
    let called = false;
    const h = unary('T', { notReady: () => 'recovering' }, async () => {
      called = true;
      return {};
    });
    const { err } = await invoke(h, fakeCall({}));
    expect(err?.code).toBe(Status.UNAVAILABLE);
    expect(called).toBe(false);
  });

  it('aborts the handler signal when the client cancels', async () => {
    const call = fakeCall({});
    let seen: AbortSignal | undefined;
    const h = unary('T', ready, (_req, ctx) => {
      seen = ctx.signal;
      return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    });
    const p = invoke(h, call);
    call.emit('cancelled');
    const { err } = await p;
    expect(seen?.aborted).toBe(true);
    expect(err?.code).toBe(Status.CANCELLED);
  });

  it('aborts the handler signal at the call deadline', async () => {
    const h = unary('T', ready, (_req, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
    const { err } = await invoke(h, fakeCall({}, new Date(Date.now() + 50)));
    expect(err?.code).toBe(Status.DEADLINE_EXCEEDED);
  });

  it('leaves the signal of an answered call alone: a late cancel or deadline aborts nothing', async () => {
    const call = fakeCall({}, new Date(Date.now() + 30));
    let seen: AbortSignal | undefined;
    const h = unary('T', ready, async (_req, ctx) => {
      seen = ctx.signal;
      return {};
    });
    expect((await invoke(h, call)).err).toBeNull();
    call.emit('cancelled');
    await new Promise((r) => setTimeout(r, 60));
    expect(seen?.aborted).toBe(false);
  });

  it('logs a failed call once with rpc, code and ids', async () => {
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    try {
      const h = unary('StopContainer', ready, unimplemented('StopContainer'));
      const { err } = await invoke(h, fakeCall({ container_id: 'abc' }));
      expect(err?.code).toBe(Status.UNIMPLEMENTED);
    } finally {
      setLogSink((l) => process.stderr.write(l + '\n'));
    }
    const rec = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.rpc === 'StopContainer');
    expect(rec).toMatchObject({ code: 'UNIMPLEMENTED', container_id: 'abc' });
    expect(typeof rec?.duration_ms).toBe('number');
  });
});
