// `--output type=local,dest=DIR`: the image's filesystem, flattened into a directory.

import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { extractLayer } from '../archive/extract.js';
import { decompressLayer } from '../archive/layer-stream.js';
import type { Digest } from '../digest/digest.js';
import type { Descriptor } from '../oci/types.js';

export async function exportRootfs(
  content: { open(digest: Digest): Promise<Readable> },
  image: { manifest: { layers: Descriptor[] } },
  dest: string,
): Promise<void> {
  await mkdir(dest, { recursive: true });
  for (const layer of image.manifest.layers) {
    const { tar } = await decompressLayer(await content.open(layer.digest));
    await extractLayer(tar, dest, { whiteouts: 'apply' });
  }
}
