import { describe, expect, it } from 'vitest';
import { Inflight, RwLock, Semaphore } from './sync';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Semaphore', () => {
  it('never runs more than its permits at once', async () => {
    const sem = new Semaphore(2);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        sem.run(async () => {
          running++;
          peak = Math.max(peak, running);
          await tick();
          running--;
        }),
      ),
    );
    expect(peak).toBe(2);
  });
});

describe('RwLock', () => {
  it('lets readers share and keeps a writer exclusive', async () => {
    const lock = new RwLock();
    const events: string[] = [];
    let release1!: () => void;
    const r1 = lock.read(() => new Promise<void>((r) => (release1 = () => { events.push('r1 end'); r(); })));
    const r2 = lock.read(async () => { events.push('r2'); });
    await r2;
    const w = lock.write(async () => { events.push('w'); });
    const r3 = lock.read(async () => { events.push('r3'); });
    await tick();
    expect(events).toEqual(['r2']);
    release1();
    await Promise.all([r1, w, r3]);
    expect(events).toEqual(['r2', 'r1 end', 'w', 'r3']);
  });
});

describe('Inflight', () => {
  it('shares one call per key', async () => {
    const inflight = new Inflight<number>();
    let calls = 0;
    const fn = async (): Promise<number> => { calls++; await tick(); return 7; };
    const [a, b] = await Promise.all([inflight.run('k', fn), inflight.run('k', fn)]);
    expect([a, b, calls]).toEqual([7, 7, 1]);
    await inflight.run('k', fn);
    expect(calls).toBe(2);
  });
});
