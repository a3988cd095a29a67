/**
 * The one error class of the project. Domain code throws `CriError` with a
 * code from a closed set; `src/shim/grpc-status.ts` maps the code to a gRPC status
 * in one place (as containerd's `errgrpc.ToGRPC`). Messages read
 * "failed to <verb> …" with no trailing period; wrap causes with `{ cause }`.
 */
export type ErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidArgument'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'Unimplemented'
  | 'DeadlineExceeded'
  | 'Canceled'
  | 'Unauthenticated'
  | 'PermissionDenied'
  | 'ResourceExhausted'
  | 'Internal'
  /** What containerd answers when its runtime refuses a task (runc create failed). */
  | 'Unknown';

export class CriError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CriError';
  }
}

export const isCriError = (err: unknown, code?: ErrorCode): err is CriError =>
  err instanceof CriError && (code === undefined || err.code === code);

/** Finds the first `CriError` along the `cause` chain, so wrapping keeps the code. */
export function findCriError(err: unknown): CriError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 16; e = e.cause, depth++) {
    if (e instanceof CriError) return e;
  }
  return undefined;
}

/** Renders an error with its causes: "failed to a: failed to b: ENOENT …". */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 16; depth++) {
    if (e instanceof Error) {
      parts.push(e.message);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.filter((p, i) => i === 0 || !parts[i - 1]!.includes(p)).join(': ');
}

export const invalid = (message: string): CriError => new CriError('InvalidArgument', message);
