/** Media types of the OCI image-spec and Docker image manifest v2 schema 2. */
export const MT = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNdGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
} as const;

/** Every manifest type we understand; always sent in `Accept`, most preferred first. */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(', ');

export type Compression = 'gzip' | 'zstd' | 'none';

/** The compression of a layer media type; `undefined` for types we cannot unpack. */
export function layerCompression(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case MT.dockerLayer:
    case MT.dockerForeignLayer:
    case MT.ociLayerGzip:
    case MT.ociLayerNdGzip:
      return 'gzip';
    case MT.ociLayerZstd:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd':
      return 'zstd';
    case MT.ociLayer:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar':
      return 'none';
    default:
      return undefined;
  }
}

export const isIndex = (mt: string): boolean => mt === MT.ociIndex || mt === MT.dockerList;
export const isManifest = (mt: string): boolean => mt === MT.ociManifest || mt === MT.dockerManifest;
