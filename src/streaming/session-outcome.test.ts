import { describe, expect, it } from 'vitest';
import { encodeStatus } from './session-outcome';

const json = (b: Buffer | undefined): unknown => JSON.parse(b!.toString());

describe('encodeStatus', () => {
  it('encodes success for v4', () => {
    expect(json(encodeStatus({ kind: 'exit', code: 0 }, 'json'))).toEqual({ metadata: {}, status: 'Success' });
    expect(json(encodeStatus({ kind: 'success' }, 'json'))).toMatchObject({ status: 'Success' });
  });

  it('carries a non-zero exit code as a decimal string cause', () => {
    const s = json(encodeStatus({ kind: 'exit', code: 3 }, 'json')) as Record<string, unknown>;
    expect(s).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  });

  it('reports internal errors with their cause', () => {
    const s = json(encodeStatus({ kind: 'error', error: new Error('failed to exec', { cause: new Error('boom') }) }, 'json'));
    expect(s).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500, message: 'Internal error occurred: failed to exec: boom' });
  });

  it('writes nothing on success and plain text on failure for pre-v4', () => {
    expect(encodeStatus({ kind: 'exit', code: 0 }, 'text')).toBeUndefined();
    expect(encodeStatus({ kind: 'exit', code: 2 }, 'text')!.toString()).toContain('non-zero exit code');
  });
});
