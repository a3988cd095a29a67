import { background, type Ctx } from '../common/ctx';
import type { ImageStore } from './store/image-store';
import type { ImageRecord } from './types';

/**
 * `mesos-cri images import FILE`: loads an OCI layout or docker-archive
 * tarball (optionally gzip/zstd compressed) into the image store, for nodes
 * without registry access. Returns the imported images.
 */
export async function importImages(file: string, deps: { store: ImageStore }, ctx: Ctx = background()): Promise<ImageRecord[]> {
  return deps.store.importArchive(file, ctx);
}
