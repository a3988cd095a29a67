import type { Ctx } from '../../common/ctx';
import type { BlobStore } from './blob-store';
import type { StoredImage } from './image-index';
import type { LayerStore } from './layer-store';

/** The content half of the docker store that pullers fill: blobs (manifests, configs) and extracted layers. */
export interface ImageContent {
  readonly blobs: BlobStore;
  readonly layers: LayerStore;
}

/** An image whose content is stored, and the canonical `repo:tag`s the store gives it. */
export interface PulledImage {
  readonly image: StoredImage;
  readonly tags: readonly string[];
}

/**
 * Where images come from (Mesos `docker/puller.hpp`: `RegistryPuller`,
 * `ImageTarPuller`). A puller fetches the manifest, config and layers of the
 * images `source` names into the store's `ImageContent`, each verified
 * against its digest, and yields every image once its content is stored; the
 * docker store records it (`ImageIndex`) before the next one is fetched. The
 * store's lock and its de-duplication of pulls stay with the store.
 */
export interface Puller<Source> {
  pull(source: Source, ctx: Ctx): AsyncIterable<PulledImage>;
}
