import { describe, expect, it } from 'vitest';
import { checkStopSignal, parseSignal } from './signals';

describe('parseSignal', () => {
  it('reads names with or without SIG in any case, numbers and real-time offsets', () => {
    expect(parseSignal('SIGTERM')).toBe('SIGTERM');
    expect(parseSignal('term')).toBe('SIGTERM');
    expect(parseSignal('SIGQUIT')).toBe('SIGQUIT');
    expect(parseSignal('9')).toBe('9');
    expect(parseSignal('SIGRTMIN+3')).toBe('37');
    expect(parseSignal('RTMAX-1')).toBe('63');
  });

  it('refuses anything else', () => {
    for (const s of ['SIGFOO', '0', '65', '-1', 'RTMIN+40', 'SIGTERM; rm -rf /', '--all', ' 15']) expect(parseSignal(s)).toBeUndefined();
    expect(() => checkStopSignal('SIGFOO', 'image config StopSignal')).toThrow(/image config StopSignal "SIGFOO" is not a signal/);
    expect(() => checkStopSignal('', 'x')).not.toThrow();
  });
});
