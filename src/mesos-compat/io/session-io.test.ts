import { describe, expect, it } from 'vitest';
import { pumpResizes, type SessionTerminalSize } from './session-io';

async function* sizes(list: SessionTerminalSize[]): AsyncGenerator<SessionTerminalSize> {
  for (const s of list) yield s;
}

describe('pumpResizes', () => {
  it('applies sizes in order, skipping empty windows and clamping to uint16', async () => {
    const seen: SessionTerminalSize[] = [];
    await pumpResizes(sizes([{ width: 80, height: 24 }, { width: 0, height: 10 }, { width: 70000, height: 5 }]), new AbortController().signal, (s) => seen.push(s));
    expect(seen).toEqual([{ width: 80, height: 24 }, { width: 65535, height: 5 }]);
  });

  it('stops once aborted and swallows a failing iterable', async () => {
    const abort = new AbortController();
    const seen: SessionTerminalSize[] = [];
    abort.abort();
    await pumpResizes(sizes([{ width: 80, height: 24 }]), abort.signal, (s) => seen.push(s));
    expect(seen).toEqual([]);
    const failing = (async function* () {
      yield { width: 1, height: 1 };
      throw new Error('stream reset');
    })();
    await expect(pumpResizes(failing, new AbortController().signal, (s) => seen.push(s))).resolves.toBeUndefined();
    expect(seen).toEqual([{ width: 1, height: 1 }]);
  });
});
