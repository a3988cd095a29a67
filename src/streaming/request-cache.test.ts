import { describe, expect, it } from 'vitest';
import { isCriError } from '../common/errors';
import type { Clock } from '../common/clock';
import { RequestCache, type StreamRequest } from './request-cache';

const fakeClock = (): Clock & { advance(ms: number): void } => {
  let now = 1_000_000;
  return { nowMs: () => now, nowNanos: () => BigInt(now) * 1_000_000n, advance: (ms) => (now += ms) };
};

const req: StreamRequest = { kind: 'portforward', podSandboxId: 'p1', ports: [80] };

describe('RequestCache', () => {
  it('issues 8-character url-safe tokens that work once', () => {
    const cache = new RequestCache(fakeClock());
    const token = cache.insert(req);
    expect(token).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(cache.consume(token)).toEqual(req);
    expect(cache.consume(token)).toBeUndefined();
  });

  it('rejects expired tokens and burns them', () => {
    const clock = fakeClock();
    const cache = new RequestCache(clock, 60_000);
    const token = cache.insert(req);
    clock.advance(60_000);
    expect(cache.consume(token)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('accepts a token just before expiry', () => {
    const clock = fakeClock();
    const cache = new RequestCache(clock, 60_000);
    const token = cache.insert(req);
    clock.advance(59_999);
    expect(cache.consume(token)).toEqual(req);
  });

  it('limits in-flight tokens and sweeps expired ones on insert', () => {
    const clock = fakeClock();
    const cache = new RequestCache(clock, 1000, 3);
    for (let i = 0; i < 3; i++) cache.insert(req);
    let err: unknown;
    try {
      cache.insert(req);
    } catch (e) {
      err = e;
    }
    expect(isCriError(err, 'ResourceExhausted')).toBe(true);
    clock.advance(1000);
    expect(() => cache.insert(req)).not.toThrow();
    expect(cache.size).toBe(1);
  });

  it('never hands out the same token twice among live entries', () => {
    const cache = new RequestCache(fakeClock());
    const tokens = new Set<string>();
    for (let i = 0; i < 1000; i++) tokens.add(cache.insert(req));
    expect(tokens.size).toBe(1000);
  });
});
