import type { ImageHandler } from '../handlers';
import { toCriImage } from './image';
import type { ImageStoreView } from './store';

/** Images per message: well under gRPC's 4 MiB default message size. */
const BATCH = 100;

/** `StreamImages`: the `ListImages` result in batches of at least one, then EOF. */
export const streamImages =
  (store: ImageStoreView): ImageHandler<'StreamImages'> =>
  async (req, send) => {
    const ref = req.filter?.image?.image ?? '';
    const images = (await store.list(ref ? { ref } : undefined)).map(toCriImage);
    for (let i = 0; i < images.length; i += BATCH) await send({ images: images.slice(i, i + BATCH) });
  };
