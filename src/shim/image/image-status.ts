import type { ImageHandler } from '../handlers';
import { toCriImage } from './image';
import type { ImageStoreView } from './store';

/** `ImageStatus`: an absent image is not an error; `image` is then unset (api.proto). */
export const imageStatus =
  (store: ImageStoreView): ImageHandler<'ImageStatus'> =>
  async (req) => {
    const ref = req.image?.image ?? '';
    const img = ref ? await store.resolve(ref) : undefined;
    if (!img) return { image: null, info: {} };
    const info: Record<string, string> = {};
    if (req.verbose) info.info = JSON.stringify({ id: img.id, repoTags: img.repoTags, repoDigests: img.repoDigests, config: img.config });
    return { image: toCriImage(img), info };
  };
