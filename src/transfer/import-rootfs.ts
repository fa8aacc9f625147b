// `strata import`: a root filesystem tarball (plain or compressed) becomes a single-layer image, as
// `docker import` makes it: the layer is the input tar itself (diffID = its sha256), stored
// gzip'd; the config has this machine's platform, `created` = now, the execution defaults the
// caller parsed from --change, `comment` = the message, and one history entry {created, comment}
// with no created_by. The message defaults to "Imported from -", what docker records for a file
// or stdin (the docker CLI streams both as "-").
//
// The tar is parsed while it streams (a tee into our tar reader), so a file that is not a tar, or
// is truncated, fails the import and leaves nothing but an unreferenced temp file.

import { PassThrough, pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import { decompressLayer } from '../archive/layer-stream.js';
import { readTar } from '../archive/tar-reader.js';
import { BuilderError } from '../errors.js';
import { writeLayer } from '../image/write-layer.js';
import { formatGoTime } from '../oci/go-json.js';
import { hostPlatform } from '../oci/platform.js';
import type { ContainerConfig, ImageConfig, Platform } from '../oci/types.js';
import type { ContentStore } from '../store/content/content-store.js';
import type { ImageStore, StoredImage } from '../store/image-store.js';

export const DEFAULT_IMPORT_MESSAGE = 'Imported from -';

export interface ImportStore {
  content: ContentStore;
  images: ImageStore;
}

export interface ImportOptions {
  /** Execution defaults (from --change). */
  config?: ContainerConfig;
  /** -m: the comment; default "Imported from -". */
  message?: string;
  platform?: Platform;
  created?: Date;
  /** A name to tag the image with. */
  name?: string;
  /** gzip level of the stored layer. */
  level?: number;
  signal?: AbortSignal;
}

function invalidTar(err: unknown): BuilderError {
  return new BuilderError('EINVAL', `the input is not a valid tar archive: ${(err as Error).message}`, {
    cause: err,
  });
}

/** Passes chunks through and feeds a copy to our tar reader, which must accept them. */
class TarValidator extends Transform {
  readonly #side = new PassThrough({ highWaterMark: 256 * 1024 });
  readonly done: Promise<number>;
  bytes = 0;

  constructor(signal: AbortSignal | undefined) {
    super();
    this.done = (async () => {
      let entries = 0;
      for await (const _ of readTar(this.#side, signal === undefined ? {} : { signal })) entries++;
      return entries;
    })();
    this.done.catch((err: unknown) => this.destroy(invalidTar(err)));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.#side.write(chunk)) callback(null, chunk);
    else this.#side.once('drain', () => callback(null, chunk));
  }

  override _flush(callback: TransformCallback): void {
    this.#side.end();
    this.done.then(
      () => callback(),
      (err: unknown) => callback(invalidTar(err)),
    );
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#side.destroy();
    callback(err);
  }
}

export async function importRootfs(
  store: ImportStore,
  input: Readable | AsyncIterable<Uint8Array>,
  options: ImportOptions = {},
): Promise<StoredImage> {
  const { tar } = await decompressLayer(input);
  const validator = new TarValidator(options.signal);
  pipeline(tar, validator, () => {}); // errors reach writeLayer through `validator`
  const layer = await writeLayer(store.content, validator, {
    compression: 'gzip',
    ...(options.level === undefined ? {} : { level: options.level }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    recordLayer: (diffId, size) => store.images.recordLayer(diffId, size),
  });
  await validator.done.catch(() => undefined);
  if (validator.bytes === 0)
    throw new BuilderError('EINVAL', 'the input is empty: import needs a tar archive');

  const platform = options.platform ?? hostPlatform();
  const created = formatGoTime(options.created ?? new Date());
  const message =
    options.message !== undefined && options.message !== '' ? options.message : DEFAULT_IMPORT_MESSAGE;
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    created,
    comment: message,
    config: { ...(options.config ?? {}) },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created, comment: message }],
  };
  const image = await store.images.put(config, [layer.descriptor]);
  if (options.name !== undefined) {
    await store.images.tag(image, options.name);
    return store.images.get(image.id);
  }
  return image;
}
