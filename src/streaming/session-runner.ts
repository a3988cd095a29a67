import type { Ctx } from '../common/ctx';
import { log } from '../common/log';
import type { AttachRequest, ExecRequest } from './request-cache';
import type { StreamIO, StreamRuntime } from './runtime';
import type { SessionOutcome } from './session-outcome';

/**
 * Runs one exec or attach session against the runtime, whatever the wire
 * protocol, and turns the result into the outcome written on the error stream.
 */
export async function runSession(runtime: StreamRuntime, request: ExecRequest | AttachRequest, io: StreamIO, ctx: Ctx): Promise<SessionOutcome> {
  try {
    if (request.kind === 'exec') {
      const code = await runtime.exec(request.containerId, request.cmd, io, ctx);
      return { kind: 'exit', code };
    }
    await runtime.attach(request.containerId, io, ctx);
    return { kind: 'success' };
  } catch (error) {
    if (!ctx.signal.aborted) log.warn({ err: error, containerId: request.containerId, kind: request.kind }, 'streaming session failed');
    return { kind: 'error', error };
  }
}
