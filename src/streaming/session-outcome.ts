import { describeError } from '../common/errors';

/**
 * The outcome of an exec/attach session as written on the error stream
 * (channel 3 over WebSocket). Protocol v4 and v5 carry a JSON `metav1.Status`;
 * v1–v3 carry only the failure text, and nothing on success (kubelet
 * `remotecommand/httpstream.go`, `exec.go`).
 */
export type SessionOutcome =
  | { readonly kind: 'exit'; readonly code: number }
  | { readonly kind: 'success' }
  | { readonly kind: 'error'; readonly error: unknown };

export type StatusFormat = 'json' | 'text';

export function outcomeMessage(outcome: SessionOutcome): string | undefined {
  switch (outcome.kind) {
    case 'success':
      return undefined;
    case 'exit':
      return outcome.code === 0 ? undefined : `command terminated with non-zero exit code: exit status ${outcome.code}`;
    case 'error':
      return `Internal error occurred: ${describeError(outcome.error)}`;
  }
}

/** The bytes to write on the error stream, or `undefined` for nothing (an empty stream means success). */
export function encodeStatus(outcome: SessionOutcome, format: StatusFormat): Buffer | undefined {
  const message = outcomeMessage(outcome);
  if (format === 'text') return message === undefined ? undefined : Buffer.from(message);
  if (message === undefined) return Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' }));
  if (outcome.kind === 'exit') {
    // client-go reads the exit code from the cause whose `reason` is `ExitCode`,
    // as a decimal string that must fit a uint8.
    return Buffer.from(
      JSON.stringify({
        metadata: {},
        status: 'Failure',
        message,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(outcome.code & 0xff) }] },
      }),
    );
  }
  return Buffer.from(
    JSON.stringify({
      metadata: {},
      status: 'Failure',
      message,
      reason: 'InternalError',
      details: { causes: [{ message }] },
      code: 500,
    }),
  );
}
