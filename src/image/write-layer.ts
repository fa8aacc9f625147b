// A tar stream becomes a stored layer blob in one pass: archive/layer-stream hashes the tar
// (diffID), compresses it and hashes the result (digest, size) while the content store ingests
// it (temp file → verify → rename). Memory stays flat: the two ends are joined by a PassThrough
// with backpressure. Nothing is visible in the store unless the whole layer was written.
//
// zstd layers exist only with OCI media types (application/vnd.oci.image.layer.v1.tar+zstd):
// Docker's image manifest v2 schema 2 has no zstd layer type (containerd's
// ...rootfs.diff.tar.zstd is its own invention, which docker and registries do not know), so
// zstd with mediaTypes 'docker' is refused before a byte is read, as BuildKit refuses it.

import { PassThrough, type Readable } from 'node:stream';
import { compressLayer, type LayerCompression, type LayerStreamResult } from '../archive/layer-stream.js';
import { type Digest, parseDigest } from '../digest/digest.js';
import { BuilderError } from '../errors.js';
import { layerMediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import type { Ingester, WriteOptions } from '../store/content/content-store.js';

export interface WriteLayerOptions {
  /** Default 'gzip'. 'none' stores the tar itself (digest = diffID). 'zstd' needs OCI media types. */
  compression?: LayerCompression;
  /** gzip level 0-9 (default 6) or zstd level 0-22 (default 3), as BuildKit's defaults. */
  level?: number;
  /** Media type family of the descriptor. Default 'oci'. */
  mediaTypes?: 'oci' | 'docker';
  /** Told the uncompressed size once the layer is stored (ImageStore.recordLayer fits). */
  recordLayer?: (diffId: Digest, uncompressedSize: number) => Promise<void>;
  signal?: AbortSignal;
  /** The blob's name made durable by the store's next syncNames() (WriteOptions). */
  deferDirSync?: boolean;
}

export interface WrittenLayer {
  descriptor: Descriptor;
  diffId: Digest;
  uncompressedSize: number;
}

function storeOptions(options: WriteLayerOptions): WriteOptions {
  return {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.deferDirSync === true ? { deferDirSync: true } : {}),
  };
}

export async function writeLayer(
  content: Ingester,
  tar: Readable | AsyncIterable<Uint8Array>,
  options: WriteLayerOptions = {},
): Promise<WrittenLayer> {
  const compression = options.compression ?? 'gzip';
  if (compression !== 'gzip' && compression !== 'zstd' && compression !== 'none')
    throw new BuilderError('EINVAL', `unsupported layer compression ${JSON.stringify(compression)}`);
  const family = options.mediaTypes ?? 'oci';
  if (compression === 'zstd' && family === 'docker') {
    throw new BuilderError(
      'EINVAL',
      'zstd layers need OCI media types: Docker image manifests have no zstd layer type',
      {
        hint: 'Write OCI media types, or use gzip compression.',
      },
    );
  }
  if (compression === 'none') return writeUncompressed(content, tar, family, options);
  const pipe = new PassThrough({ highWaterMark: 64 * 1024 });
  const streamOptions = {
    compression,
    ...(options.level === undefined ? {} : { level: options.level }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const producing = compressLayer(tar, pipe, streamOptions).catch((err: unknown) => {
    pipe.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  });
  const ingesting = content.write(pipe, storeOptions(options)).catch((err: unknown) => {
    pipe.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  });
  let produced: LayerStreamResult;
  let stored: Awaited<typeof ingesting>;
  try {
    [produced, stored] = await Promise.all([producing, ingesting]);
  } catch (err) {
    // Both sides have settled or been torn down; report the first failure.
    await Promise.allSettled([producing, ingesting]);
    throw err;
  }
  if (stored.digest !== produced.digest || stored.size !== produced.size) {
    throw new BuilderError(
      'EINTERNAL',
      `layer stream says ${produced.digest} (${produced.size} bytes), the store got ${stored.digest} (${stored.size} bytes)`,
    );
  }
  const diffId = parseDigest(produced.diffId);
  await options.recordLayer?.(diffId, produced.uncompressedSize);
  return {
    descriptor: {
      mediaType: layerMediaType(compression, family),
      digest: stored.digest,
      size: stored.size,
    },
    diffId,
    uncompressedSize: produced.uncompressedSize,
  };
}

/**
 * An uncompressed layer is its tar: the store's own hash is the digest and the diffID, so the
 * tar is hashed once (not again by a tap in front of the store).
 */
async function writeUncompressed(
  content: Ingester,
  tar: Readable | AsyncIterable<Uint8Array>,
  family: 'oci' | 'docker',
  options: WriteLayerOptions,
): Promise<WrittenLayer> {
  const stored = await content.write(tar, storeOptions(options));
  await options.recordLayer?.(stored.digest, stored.size);
  return {
    descriptor: { mediaType: layerMediaType('none', family), digest: stored.digest, size: stored.size },
    diffId: stored.digest,
    uncompressedSize: stored.size,
  };
}
