import { describe, expect, it } from 'vitest';
import { PullProgress, PullTracker } from './progress';

describe('PullTracker', () => {
  it('shows each layer of a pull in flight, from waiting to done, and forgets the pull when it stops', () => {
    const tracker = new PullTracker();
    const p = new PullProgress('docker.io/library/app:1', () => 300, { stallMs: 0, logMs: 60_000, tracker });
    p.layers(
      [
        { digest: 'sha256:a', size: 100 },
        { digest: 'sha256:b', size: 200 },
        { digest: 'sha256:c', size: 50 },
      ],
      new Set(['sha256:c']),
    );
    const onB = p.layer('sha256:b');
    onB(120, 0);
    expect(tracker.find('docker.io/library/app:1')?.layers).toEqual([
      { digest: 'sha256:a', size: 100, downloaded: 0, extracted: 0, state: 'waiting' },
      { digest: 'sha256:b', size: 200, downloaded: 120, extracted: 0, state: 'downloading' },
      { digest: 'sha256:c', size: 50, downloaded: 0, extracted: 0, state: 'exists' },
    ]);
    onB(80, 0);
    onB(0, 150);
    expect(tracker.snapshots()[0]!.layers[1]).toMatchObject({ downloaded: 200, extracted: 150, state: 'extracting' });
    p.layerDone('sha256:b');
    expect(tracker.snapshots()[0]!.layers[1]!.state).toBe('done');
    expect(p.downloaded).toBe(200);
    p.stop();
    expect(tracker.snapshots()).toEqual([]);
    expect(tracker.find('docker.io/library/app:1')).toBeUndefined();
  });
});
