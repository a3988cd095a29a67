import type { ImageHandler } from '../handlers';
import type { ImageStoreView } from './store';

/** `ImageFsInfo`: real bytes and inodes used by the image store's filesystem. */
export const imageFsInfo =
  (store: ImageStoreView): ImageHandler<'ImageFsInfo'> =>
  async () => {
    const fs = await store.fsInfo();
    const usage = {
      timestamp: fs.timestamp.toString(),
      fs_id: { mountpoint: fs.mountpoint },
      used_bytes: { value: fs.usedBytes.toString() },
      inodes_used: { value: fs.inodesUsed.toString() },
    };
    return { image_filesystems: [usage], container_filesystems: [] };
  };
