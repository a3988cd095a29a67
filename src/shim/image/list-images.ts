import type { ImageHandler } from '../handlers';
import { toCriImage } from './image';
import type { ImageStoreView } from './store';

/** `ListImages`, optionally filtered to one image by reference or id. */
export const listImages =
  (store: ImageStoreView): ImageHandler<'ListImages'> =>
  async (req) => {
    const ref = req.filter?.image?.image ?? '';
    const images = await store.list(ref ? { ref } : undefined);
    return { images: images.map(toCriImage) };
  };
