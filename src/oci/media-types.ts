// Media types of the OCI image spec and of Docker's image manifest v2 schema 2, and the few
// questions callers ask about them (is this an index? how is this layer compressed?).
// Media types are open-ended strings, so they are not branded: a registry may send anything.

export type MediaType = string;

export const MediaTypes = {
  // OCI
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociDescriptor: 'application/vnd.oci.descriptor.v1+json',
  ociLayout: 'application/vnd.oci.layout.header.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  // Docker image manifest v2, schema 2
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerPluginConfig: 'application/vnd.docker.plugin.v1+json',
  // Docker schema 1: recognised only to be refused with a clear message
  dockerManifestSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerManifestSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export type LayerCompression = 'none' | 'gzip' | 'zstd';

const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaTypes.ociManifest, MediaTypes.dockerManifest]);
const INDEX_TYPES: ReadonlySet<string> = new Set([MediaTypes.ociIndex, MediaTypes.dockerManifestList]);
const CONFIG_TYPES: ReadonlySet<string> = new Set([MediaTypes.ociConfig, MediaTypes.dockerConfig]);
const SCHEMA1_TYPES: ReadonlySet<string> = new Set([
  MediaTypes.dockerManifestSchema1,
  MediaTypes.dockerManifestSchema1Signed,
]);

const LAYER_COMPRESSION: ReadonlyMap<string, LayerCompression> = new Map([
  [MediaTypes.ociLayer, 'none'],
  [MediaTypes.ociLayerGzip, 'gzip'],
  [MediaTypes.ociLayerZstd, 'zstd'],
  [MediaTypes.ociLayerNondistributable, 'none'],
  [MediaTypes.ociLayerNondistributableGzip, 'gzip'],
  [MediaTypes.ociLayerNondistributableZstd, 'zstd'],
  [MediaTypes.dockerLayer, 'none'],
  [MediaTypes.dockerLayerGzip, 'gzip'],
  [MediaTypes.dockerLayerZstd, 'zstd'],
  [MediaTypes.dockerForeignLayer, 'gzip'],
]);

const FOREIGN_TYPES: ReadonlySet<string> = new Set([
  MediaTypes.dockerForeignLayer,
  MediaTypes.ociLayerNondistributable,
  MediaTypes.ociLayerNondistributableGzip,
  MediaTypes.ociLayerNondistributableZstd,
]);

/** An image manifest (OCI or Docker schema 2). */
export function isManifestMediaType(mediaType: string): boolean {
  return MANIFEST_TYPES.has(mediaType);
}

/** An image index or a Docker manifest list. */
export function isIndexMediaType(mediaType: string): boolean {
  return INDEX_TYPES.has(mediaType);
}

export function isConfigMediaType(mediaType: string): boolean {
  return CONFIG_TYPES.has(mediaType);
}

export function isSchema1MediaType(mediaType: string): boolean {
  return SCHEMA1_TYPES.has(mediaType);
}

export function isLayerMediaType(mediaType: string): boolean {
  return LAYER_COMPRESSION.has(mediaType);
}

/** Foreign (Windows base) or non-distributable layers: not pushed, may carry `urls`. */
export function isForeignLayerMediaType(mediaType: string): boolean {
  return FOREIGN_TYPES.has(mediaType);
}

export function isDockerMediaType(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.docker.');
}

/** How a layer blob is compressed, or undefined when `mediaType` is not a known layer type. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return LAYER_COMPRESSION.get(mediaType);
}

/** The layer media type for a compression, in the OCI or the Docker family. */
export function layerMediaType(compression: LayerCompression, family: 'oci' | 'docker' = 'oci'): MediaType {
  if (family === 'docker') {
    if (compression === 'gzip') return MediaTypes.dockerLayerGzip;
    if (compression === 'zstd') return MediaTypes.dockerLayerZstd;
    return MediaTypes.dockerLayer;
  }
  if (compression === 'gzip') return MediaTypes.ociLayerGzip;
  if (compression === 'zstd') return MediaTypes.ociLayerZstd;
  return MediaTypes.ociLayer;
}

const DOCKER_TO_OCI: ReadonlyMap<string, string> = new Map([
  [MediaTypes.dockerManifest, MediaTypes.ociManifest],
  [MediaTypes.dockerManifestList, MediaTypes.ociIndex],
  [MediaTypes.dockerConfig, MediaTypes.ociConfig],
  [MediaTypes.dockerLayer, MediaTypes.ociLayer],
  [MediaTypes.dockerLayerGzip, MediaTypes.ociLayerGzip],
  [MediaTypes.dockerLayerZstd, MediaTypes.ociLayerZstd],
  [MediaTypes.dockerForeignLayer, MediaTypes.ociLayerNondistributableGzip],
]);

const OCI_TO_DOCKER: ReadonlyMap<string, string> = new Map(
  [...DOCKER_TO_OCI].filter(([d]) => d !== MediaTypes.dockerForeignLayer).map(([d, o]) => [o, d]),
);

/** The OCI equivalent of a Docker media type; other types are returned unchanged. */
export function toOciMediaType(mediaType: string): MediaType {
  return DOCKER_TO_OCI.get(mediaType) ?? mediaType;
}

/** The Docker equivalent of an OCI media type; other types are returned unchanged. */
export function toDockerMediaType(mediaType: string): MediaType {
  return OCI_TO_DOCKER.get(mediaType) ?? mediaType;
}

/** RFC 6838 shape, as the OCI schema checks it (`type/subtype`, restricted names). */
export const MEDIA_TYPE_RE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
