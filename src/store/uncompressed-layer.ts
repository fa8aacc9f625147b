// A stored layer's diffID and uncompressed size, read through once: for checks (validate,
// system check) and for sizes that were not recorded when the layer was written.

import { pipeline } from 'node:stream/promises';
import { decompressLayer } from '../archive/layer-stream.js';
import type { Digest } from '../digest/digest.js';
import { HashTap } from '../digest/hash-tap.js';
import type { Descriptor } from '../oci/types.js';
import type { BlobProvider } from './content/content-store.js';

export async function measureUncompressedLayer(
  content: Pick<BlobProvider, 'open'>,
  layer: Descriptor,
  signal?: AbortSignal,
): Promise<{ diffId: Digest; size: number }> {
  const { tar } = await decompressLayer(
    await content.open(layer.digest, signal === undefined ? {} : { signal }),
  );
  const tap = new HashTap();
  await pipeline(
    tar,
    tap,
    async (chunks: AsyncIterable<unknown>) => {
      for await (const _ of chunks) {
        // hash and count only
      }
    },
    signal === undefined ? {} : { signal },
  );
  return { diffId: tap.digest() as Digest, size: tap.bytes };
}
