import { background, type Ctx } from '../common/ctx';
import { CriError } from '../common/errors';
import { archiveImporter } from './store/image-store';
import type { ImageStore } from './store/image-store';
import type { ImageRecord } from './types';

/**
 * `mesos-cri images import FILE`: loads an OCI layout or docker-archive
 * tarball (optionally gzip/zstd compressed) into the image store, for nodes
 * without registry access. Returns the imported images.
 */
export async function importImages(file: string, deps: { store: ImageStore }, ctx: Ctx = background()): Promise<ImageRecord[]> {
  const importer = archiveImporter(deps.store);
  if (!importer) throw new CriError('Internal', 'failed to import images: the store does not support archives');
  return importer(file, ctx);
}
