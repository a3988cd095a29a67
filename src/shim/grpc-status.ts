import { status as Status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { describeError, findCriError, type ErrorCode } from '../common/errors';

/** The one place that maps internal errors to gRPC status codes. */
const CODES: Record<ErrorCode, Status> = {
  NotFound: Status.NOT_FOUND,
  AlreadyExists: Status.ALREADY_EXISTS,
  InvalidArgument: Status.INVALID_ARGUMENT,
  FailedPrecondition: Status.FAILED_PRECONDITION,
  Unavailable: Status.UNAVAILABLE,
  Unimplemented: Status.UNIMPLEMENTED,
  DeadlineExceeded: Status.DEADLINE_EXCEEDED,
  Canceled: Status.CANCELLED,
  Unauthenticated: Status.UNAUTHENTICATED,
  PermissionDenied: Status.PERMISSION_DENIED,
  ResourceExhausted: Status.RESOURCE_EXHAUSTED,
  Internal: Status.INTERNAL,
  Unknown: Status.UNKNOWN,
};

export function grpcCode(err: unknown): Status {
  const cri = findCriError(err);
  if (cri) return CODES[cri.code];
  if (err instanceof Error && (err.name === 'TimeoutError' || (err as { code?: unknown }).code === 'ETIMEDOUT'))
    return Status.DEADLINE_EXCEEDED;
  if (err instanceof Error && err.name === 'AbortError') return Status.CANCELLED;
  return Status.UNKNOWN;
}

export function toGrpcStatus(err: unknown): Partial<ServiceError> & { code: Status; details: string } {
  return { code: grpcCode(err), details: describeError(err), metadata: new Metadata() };
}
