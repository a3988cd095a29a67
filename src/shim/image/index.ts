import type { ImageImpl } from '../handlers';
import { imageFsInfo } from './image-fs-info';
import { imageStatus } from './image-status';
import { listImages } from './list-images';
import { pullImage } from './pull-image';
import { removeImage } from './remove-image';
import type { ImageStoreView } from './store';
import { streamImages } from './stream-images';

/** The ImageService table: one file per RPC. */
export function imageHandlers(store: ImageStoreView): ImageImpl {
  return {
    PullImage: pullImage(store),
    ImageStatus: imageStatus(store),
    ListImages: listImages(store),
    RemoveImage: removeImage(store),
    ImageFsInfo: imageFsInfo(store),
    StreamImages: streamImages(store),
  };
}
