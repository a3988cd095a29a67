import { describe, expect, it } from 'vitest';
import type { LayerProgress } from '../../common/metrics';
import { ProgressView } from './progress-view';

const L = (digest: string, state: LayerProgress['state'], downloaded = 0, extracted = 0, size = 4 << 20): LayerProgress => ({ digest: `sha256:${digest.repeat(64).slice(0, 64)}`, size, downloaded, extracted, state });

describe('pull progress view', () => {
  it('draws one bar per layer on a terminal and redraws them in place', () => {
    const v = new ProgressView(true, 10);
    const first = v.update([L('a', 'downloading', 2 << 20), L('b', 'exists')], 0);
    expect(first).toBe(`\x1b[2Kaaaaaaaaaaaa [###.......] downloading 2.0 MiB / 4.0 MiB\n\x1b[2Kbbbbbbbbbbbb [##########] already present\n`);
    const second = v.update([L('a', 'extracting', 4 << 20, 2 << 20), L('b', 'exists')], 100);
    expect(second.startsWith('\x1b[2A\x1b[2Kaaaaaaaaaaaa [########..] extracting 2.0 MiB / 4.0 MiB\n')).toBe(true);
  });

  it('writes plain lines off a terminal: on each change, and for moving layers at most every interval', () => {
    const v = new ProgressView(false, 10, 1000);
    expect(v.update([L('a', 'waiting'), L('b', 'downloading', 1024)], 0)).toBe('aaaaaaaaaaaa waiting (4.0 MiB)\nbbbbbbbbbbbb downloading 1.0 KiB / 4.0 MiB\n');
    expect(v.update([L('a', 'waiting'), L('b', 'downloading', 2048)], 500)).toBe('');
    expect(v.update([L('a', 'waiting'), L('b', 'downloading', 4096)], 1200)).toBe('bbbbbbbbbbbb downloading 4.0 KiB / 4.0 MiB\n');
    expect(v.update([L('a', 'downloading', 10), L('b', 'downloading', 8192)], 1300)).toBe('aaaaaaaaaaaa downloading 0.0 KiB / 4.0 MiB\n');
    expect(v.finish([L('a', 'done'), L('b', 'done')], 1400)).toBe('aaaaaaaaaaaa done (4.0 MiB)\nbbbbbbbbbbbb done (4.0 MiB)\n');
  });
});
