import { describe, expect, it } from 'vitest';
import { stopwatch } from './stopwatch';

describe('stopwatch', () => {
  it('adds the time since the previous lap to the named step, in ms', () => {
    let t = 0n;
    const lap = stopwatch(() => t);
    t += 2_000_000n;
    lap('a');
    t += 500_000n;
    lap('b');
    t += 1_000_000n;
    lap('a');
    expect(lap.totals()).toEqual({ a: 3, b: 0.5 });
  });
});
