export { chainId, chainIds } from './chain-id.js';
export { canonicalJson, formatGoTime, type GoJsonOptions, goJsonQuote, goJsonStringify } from './go-json.js';
export {
  isConfigMediaType,
  isDockerMediaType,
  isForeignLayerMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  type LayerCompression,
  layerCompression,
  layerMediaType,
  MEDIA_TYPE_RE,
  type MediaType,
  MediaTypes,
  toDockerMediaType,
  toOciMediaType,
} from './media-types.js';
export {
  type ImageDocument,
  parseConfig,
  parseDescriptor,
  parseImageDocument,
  parseIndex,
  parseManifest,
  toDescriptor,
  toImageConfig,
  toIndex,
  toManifest,
} from './parse.js';
export {
  configToJson,
  descriptorOf,
  descriptorToJson,
  indexToJson,
  manifestToJson,
  serializeConfig,
  serializeIndex,
  serializeManifest,
} from './serialize.js';
export type {
  Annotations,
  ContainerConfig,
  Descriptor,
  HealthConfig,
  History,
  ImageConfig,
  Index,
  Manifest,
  OciLayoutFile,
  Platform,
  RootFS,
} from './types.js';
