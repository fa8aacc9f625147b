// The invariants of an image, checked against the bytes in a content store (ggcr's
// validate.Image). Tests run this after anything that makes an image.
//
//   * the manifest blob has its descriptor's digest and size, parses, and agrees on mediaType;
//   * the config likewise; its media type is a config type of the manifest's family;
//   * rootfs.type is "layers" and there is one diff_id per layer;
//   * every layer blob is present with its descriptor's size and a layer media type of the
//     manifest's family; with `deep` (default), its uncompressed content hashes to its diff_id;
//   * when history is present, its non-empty entries are as many as the layers.

import { BuilderError } from '../errors.js';
import {
  isConfigMediaType,
  isDockerMediaType,
  isForeignLayerMediaType,
  isLayerMediaType,
  isManifestMediaType,
  MediaTypes,
} from '../oci/media-types.js';
import { parseConfig, parseManifest } from '../oci/parse.js';
import type { Descriptor, ImageConfig, Manifest } from '../oci/types.js';
import type { BlobInfoProvider, BlobProvider } from '../store/content/content-store.js';
import { measureUncompressedLayer } from '../store/uncompressed-layer.js';

export interface ValidateImageOptions {
  /** Decompress every layer and compare with its diff_id. Default true. */
  deep?: boolean;
  signal?: AbortSignal;
}

type Content = BlobProvider & BlobInfoProvider;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function uncompressedDigest(
  content: Content,
  layer: Descriptor,
  signal?: AbortSignal,
): Promise<string> {
  return (await measureUncompressedLayer(content, layer, signal)).diffId;
}

/** Everything wrong with the image (empty when valid). */
export async function imageProblems(
  store: { content: Content },
  image: { manifestDescriptor: Descriptor },
  options: ValidateImageOptions = {},
): Promise<string[]> {
  const { content } = store;
  const problems: string[] = [];
  const desc = image.manifestDescriptor;
  if (!isManifestMediaType(desc.mediaType))
    return [`descriptor media type ${desc.mediaType} is not a manifest`];

  const readDoc = async (d: Descriptor, what: string): Promise<Uint8Array | undefined> => {
    try {
      const bytes = await content.readBytes(d.digest);
      if (bytes.byteLength !== d.size)
        problems.push(`${what} is ${bytes.byteLength} bytes, its descriptor says ${d.size}`);
      return bytes;
    } catch (err) {
      problems.push(`${what} ${d.digest}: ${message(err)}`);
      return undefined;
    }
  };

  const manifestBytes = await readDoc(desc, 'manifest');
  if (manifestBytes === undefined) return problems;
  let manifest: Manifest;
  try {
    manifest = parseManifest(manifestBytes);
  } catch (err) {
    return [...problems, message(err)];
  }
  if (manifest.mediaType !== undefined && manifest.mediaType !== desc.mediaType)
    problems.push(`manifest mediaType ${manifest.mediaType} differs from its descriptor's ${desc.mediaType}`);
  const docker = isDockerMediaType(desc.mediaType);
  const family = (mt: string) => isDockerMediaType(mt) === docker;

  if (!isConfigMediaType(manifest.config.mediaType))
    problems.push(`config media type ${manifest.config.mediaType}`);
  else if (!family(manifest.config.mediaType))
    problems.push(
      `config media type ${manifest.config.mediaType} in a ${docker ? 'Docker' : 'OCI'} manifest`,
    );
  const configBytes = await readDoc(manifest.config, 'config');
  if (configBytes === undefined) return problems;
  let config: ImageConfig;
  try {
    config = parseConfig(configBytes);
  } catch (err) {
    return [...problems, message(err)];
  }
  if (config.rootfs?.type !== 'layers')
    problems.push(`rootfs.type is ${JSON.stringify(config.rootfs?.type)}`);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length)
    problems.push(`${manifest.layers.length} layers but ${diffIds.length} diff_ids`);
  if (config.history !== undefined && config.history.length > 0) {
    const nonEmpty = config.history.filter((h) => h.empty_layer !== true).length;
    if (nonEmpty !== manifest.layers.length)
      problems.push(`history has ${nonEmpty} non-empty entries for ${manifest.layers.length} layers`);
  }

  for (const [i, layer] of manifest.layers.entries()) {
    options.signal?.throwIfAborted();
    const what = `layer ${i} (${layer.digest})`;
    if (!isLayerMediaType(layer.mediaType)) {
      problems.push(`${what}: media type ${layer.mediaType} is not a layer type`);
      continue;
    }
    if (!family(layer.mediaType) && layer.mediaType !== MediaTypes.dockerForeignLayer)
      problems.push(`${what}: media type ${layer.mediaType} in a ${docker ? 'Docker' : 'OCI'} manifest`);
    if (isForeignLayerMediaType(layer.mediaType) && (layer.urls?.length ?? 0) > 0) continue;
    try {
      const info = await content.stat(layer.digest);
      if (info.size !== layer.size) {
        problems.push(`${what} is ${info.size} bytes, its descriptor says ${layer.size}`);
        continue;
      }
    } catch (err) {
      problems.push(`${what}: ${message(err)}`);
      continue;
    }
    if (options.deep !== false && diffIds[i] !== undefined) {
      try {
        const actual = await uncompressedDigest(content, layer, options.signal);
        if (actual !== diffIds[i])
          problems.push(`${what}: uncompressed digest ${actual}, diff_id ${diffIds[i]}`);
      } catch (err) {
        problems.push(`${what}: ${message(err)}`);
      }
    }
  }
  return problems;
}

/** Throws EINVAL listing every problem when the image is not valid. */
export async function validateImage(
  store: { content: Content },
  image: { manifestDescriptor: Descriptor },
  options: ValidateImageOptions = {},
): Promise<void> {
  const problems = await imageProblems(store, image, options);
  if (problems.length > 0) {
    throw new BuilderError(
      'EINVAL',
      `invalid image ${image.manifestDescriptor.digest}:\n  ${problems.join('\n  ')}`,
    );
  }
}
