import { invalid } from '../../common/errors';
import type { ImageHandler } from '../handlers';
import type { ImageStoreView } from './store';

/** `RemoveImage`: idempotent; removing an absent image succeeds (api.proto). */
export const removeImage =
  (store: ImageStoreView): ImageHandler<'RemoveImage'> =>
  async (req, ctx) => {
    const ref = req.image?.image ?? '';
    if (!ref) throw invalid('image.image must name an image');
    await store.remove(ref, ctx);
    return {};
  };
