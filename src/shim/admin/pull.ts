import { CriError } from '../../common/errors';
import type { StreamHandler } from '../wrap';
import type { PullTrackingStore } from '../image/store';
import type { PullProgress, PullRequest } from './service';

/** How often a pull in flight is reported. */
const EVERY_MS = 200;

/**
 * `Pull` with progress: the same pull as CRI `PullImage` (shared with a
 * concurrent one of the same image), reported per layer while it runs —
 * the numbers the metrics endpoint exports — then once more with the image
 * id. A client that goes away cancels the pull, as with PullImage.
 */
export const pullWithProgress =
  (store: PullTrackingStore): StreamHandler<PullRequest, PullProgress> =>
  async (req, send, ctx) => {
    const ref = typeof req?.image === 'string' ? req.image : '';
    if (!ref) throw new CriError('InvalidArgument', 'failed to pull: image must name an image');
    let last = '';
    const report = async (): Promise<void> => {
      const snap = store.pullOf(ref);
      const text = JSON.stringify(snap?.layers ?? []);
      if (!snap || text === last) return;
      last = text;
      await send({ layers: snap.layers });
    };
    const pulled = store.pull(ref, {}, ctx);
    let done = false;
    const settled = pulled.then(
      () => void (done = true),
      () => void (done = true),
    );
    while (!done) {
      await report();
      await Promise.race([settled, new Promise((r) => setTimeout(r, EVERY_MS))]);
    }
    const img = await pulled;
    // The pull succeeded, so every layer it fetched is in the store now.
    const layers = (JSON.parse(last || '[]') as PullProgress['layers']).map((l) => (l.state === 'exists' ? l : { ...l, downloaded: l.size, extracted: l.size, state: 'done' as const }));
    await send({ layers, imageId: img.id });
  };
