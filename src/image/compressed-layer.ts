// Layers stay in the store as the build wrote them: uncompressed by default, as docker and
// BuildKit keep theirs, so a build spends no CPU on compression and a changed COPY layer is
// only tarred and hashed. An image leaves the machine compressed: push asks here for the gzip
// blob of each uncompressed layer. It is written once into the content store and remembered
// by diffID, so a second push (or a push to another registry) neither compresses again nor,
// when the registry already has the blob, even reads the layer:
//
//   meta/v1/records/compressed-layers/<compression>-<level>-<diffID>.json → {digest, size}
//
// The record is a hint: GC may remove the compressed blob (no image references it), and it is
// then written again; parallel gzip is deterministic, so it comes back with the same digest.
// It stays useful without its blob (a push asks the registry for that digest first), so
// prune() drops only the records of layers no longer in the store.

import type { Digest } from '../digest/digest.js';
import { isDigest } from '../digest/digest.js';
import { BuilderError, DigestMismatchError } from '../errors.js';
import {
  isForeignLayerMediaType,
  type LayerCompression,
  layerCompression,
  layerMediaType,
} from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import type { FsRecordStore } from '../store/meta/record-store.js';
import type { Store } from '../store/store.js';
import { writeLayer } from './write-layer.js';

export interface CompressOptions {
  /** Default 'gzip' (what every registry and docker accept). */
  compression?: Exclude<LayerCompression, 'none'>;
  /** Default: the codec's (gzip 6, zstd 3). */
  level?: number;
  signal?: AbortSignal;
}

interface CompressedRecord {
  digest: Digest;
  size: number;
}

function validate(value: unknown): CompressedRecord {
  const v = value as Partial<CompressedRecord> | null;
  if (typeof v !== 'object' || v === null || !isDigest(v.digest) || !Number.isSafeInteger(v.size))
    throw new BuilderError('EINVAL', 'a compressed-layer record needs a digest and a size');
  return { digest: v.digest as Digest, size: v.size as number };
}

/** Remembered compressed forms of uncompressed layers (see the head of this file). */
export class CompressedLayers {
  readonly #records: FsRecordStore<CompressedRecord>;
  readonly #writing = new Map<string, Promise<Descriptor>>();

  constructor(private readonly store: Store) {
    this.#records = store.meta.records('compressed-layers', validate);
  }

  /**
   * Whether `layer` is stored uncompressed, i.e. is compressed for distribution. Its digest is
   * then its diffID. Non-distributable layers keep their media type (and their bytes).
   */
  static needsCompression(layer: Descriptor): boolean {
    return layerCompression(layer.mediaType) === 'none' && !isForeignLayerMediaType(layer.mediaType);
  }

  /**
   * The compressed descriptor remembered for the uncompressed `layer` (its blob may be gone
   * from the store), or undefined when it was never compressed with these settings.
   */
  async known(layer: Descriptor, options: CompressOptions = {}): Promise<Descriptor | undefined> {
    const rec = await this.#records.get(recordKey(layer.digest, options)).catch(() => undefined);
    if (rec === undefined) return undefined;
    return { mediaType: compressedMediaType(layer, options), digest: rec.value.digest, size: rec.value.size };
  }

  /** The compressed blob of the uncompressed `layer`, in the content store: found, or written now. */
  async ensure(layer: Descriptor, options: CompressOptions = {}): Promise<Descriptor> {
    const key = recordKey(layer.digest, options);
    let pending = this.#writing.get(key);
    if (pending === undefined) {
      pending = this.#ensure(layer, key, options);
      this.#writing.set(key, pending);
      pending.finally(() => this.#writing.delete(key)).catch(() => {});
    }
    return pending;
  }

  /** `layer` as it leaves the machine: compressed when stored uncompressed, else as it is. */
  async distributable(layer: Descriptor, options: CompressOptions = {}): Promise<Descriptor> {
    return CompressedLayers.needsCompression(layer) ? this.ensure(layer, options) : layer;
  }

  /** Removes the records of uncompressed layers the store no longer has (after GC); returns how many. */
  async prune(): Promise<number> {
    let removed = 0;
    for (const rec of await this.#records.list({ dependency: false })) {
      const diffId = /-(sha256:[0-9a-f]{64})$/.exec(rec.key)?.[1];
      if (diffId !== undefined && (await this.store.content.has(diffId as Digest))) continue;
      if (await this.#records.delete(rec.key)) removed++;
    }
    return removed;
  }

  async #ensure(layer: Descriptor, key: string, options: CompressOptions): Promise<Descriptor> {
    const known = await this.known(layer, options);
    if (known !== undefined && (await this.store.content.has(known.digest))) return known;
    const { signal } = options;
    const tar = await this.store.content.open(layer.digest, signal === undefined ? {} : { signal });
    const written = await writeLayer(this.store.content, tar, {
      compression: options.compression ?? 'gzip',
      mediaTypes: family(layer),
      ...(options.level === undefined ? {} : { level: options.level }),
      ...(signal === undefined ? {} : { signal }),
    });
    // An uncompressed layer is its own diffID; anything else means the blob is not that layer.
    if (written.diffId !== layer.digest)
      throw new DigestMismatchError(layer.digest, written.diffId, `uncompressed layer ${layer.digest}`);
    await this.#records
      .put(key, { digest: written.descriptor.digest, size: written.descriptor.size })
      .catch(() => {}); // a lost hint only costs compressing again
    return written.descriptor;
  }
}

function recordKey(diffId: Digest, options: CompressOptions): string {
  const compression = options.compression ?? 'gzip';
  return `${compression}-${options.level ?? 'default'}-${diffId}`;
}

function family(layer: Descriptor): 'oci' | 'docker' {
  return layer.mediaType.startsWith('application/vnd.docker.') ? 'docker' : 'oci';
}

function compressedMediaType(layer: Descriptor, options: CompressOptions): string {
  return layerMediaType(options.compression ?? 'gzip', family(layer));
}
