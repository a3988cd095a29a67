import { join } from 'node:path';
import type { ContainerId } from '../common/container-id';

/**
 * Every on-disk path of the provisioner (Mesos `provisioner/paths.hpp`):
 *
 *   <workDir>/provisioner/
 *   ├── store/
 *   │   ├── blobs/sha256/<hex>              manifests, indexes and configs (content addressed)
 *   │   ├── layers/sha256/<hex>/            one extracted layer per compressed-blob digest
 *   │   │   ├── rootfs/                     the layer's files, whiteouts in overlay form
 *   │   │   └── layer.json                  diff id, whiteouts and opaque dirs (for the copy backend)
 *   │   ├── images/<hex>.json               image record, keyed by config digest
 *   │   ├── staging/<random>/               downloads and extractions in progress
 *   │   └── trash/<random>/                 removed layers, deleted behind the reply (or at the next start)
 *   ├── trash/<id>-<hex>/                   removed containers' trees, unmounted, deleted behind the reply (or at the next start)
 *   └── containers/<id>/                    nested containers nest: containers/<id>/containers/<child>/
 *       ├── layers.json                     checkpoint: backend, image id, layer dirs
 *       └── backends/<backend>/
 *           ├── rootfs/                     what the container sees
 *           ├── upper/ work/ links/         overlay and aufs scratch
 */
export const provisionerDir = (workDir: string): string => join(workDir, 'provisioner');
export const storeDir = (workDir: string): string => join(provisionerDir(workDir), 'store');
export const blobsDir = (workDir: string): string => join(storeDir(workDir), 'blobs');
export const layersDir = (workDir: string): string => join(storeDir(workDir), 'layers');
export const imagesDir = (workDir: string): string => join(storeDir(workDir), 'images');
export const stagingDir = (workDir: string): string => join(storeDir(workDir), 'staging');
export const layerTrashDir = (workDir: string): string => join(storeDir(workDir), 'trash');
/** Which daemon process owns the store (`store-owner.ts`); `images import` refuses while it lives. */
export const storeOwnerPath = (workDir: string): string => join(storeDir(workDir), 'owner.json');

const hexOf = (digest: string): string => digest.slice(digest.indexOf(':') + 1);
const algOf = (digest: string): string => digest.slice(0, digest.indexOf(':'));

export const blobPath = (workDir: string, digest: string): string => join(blobsDir(workDir), algOf(digest), hexOf(digest));
export const layerDir = (workDir: string, digest: string): string => join(layersDir(workDir), algOf(digest), hexOf(digest));
export const layerRootfs = (workDir: string, digest: string): string => join(layerDir(workDir, digest), 'rootfs');
export const layerMetaPath = (workDir: string, digest: string): string => join(layerDir(workDir, digest), 'layer.json');
export const imagePath = (workDir: string, id: string): string => join(imagesDir(workDir), `${hexOf(id)}.json`);

export const containersDir = (workDir: string): string => join(provisionerDir(workDir), 'containers');
export const trashDir = (workDir: string): string => join(provisionerDir(workDir), 'trash');
export const containerDir = (workDir: string, id: ContainerId): string =>
  id.parent ? join(containerDir(workDir, id.parent), 'containers', id.value) : join(containersDir(workDir), id.value);
export const layersCheckpoint = (workDir: string, id: ContainerId): string => join(containerDir(workDir, id), 'layers.json');
export const backendDir = (workDir: string, id: ContainerId, backend: string): string =>
  join(containerDir(workDir, id), 'backends', backend);
