// An in-memory content store with the same contract as FsContentStore, for unit tests of the
// layers above (image, build, registry) that should not touch the disk.

import { addAbortSignal, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Digest, isDigest } from '../../digest/digest.js';
import { HashTap } from '../../digest/hash-tap.js';
import { verifyStream } from '../../digest/verify-stream.js';
import { BuilderError } from '../../errors.js';
import {
  type BlobInfo,
  type BlobSource,
  type ContentStore,
  DEFAULT_READ_BYTES_MAX,
  type ReadBytesOptions,
  type ReadOptions,
  type WriteOptions,
  type WriteResult,
} from './content-store.js';
import { checkExpectedSize, notFound, sizeMismatch, storeError } from './errors.js';

interface Entry {
  bytes: Buffer;
  createdAt: Date;
}

function check(digest: Digest): Digest {
  if (!isDigest(digest)) throw new BuilderError('EINVAL', `invalid digest ${JSON.stringify(digest)}`);
  return digest;
}

export class MemoryContentStore implements ContentStore {
  readonly #blobs = new Map<string, Entry>();

  /** Number of committed blobs (for tests). */
  get size(): number {
    return this.#blobs.size;
  }

  #get(digest: Digest): Entry {
    const entry = this.#blobs.get(check(digest));
    if (entry === undefined) throw notFound(`blob ${digest}`);
    return entry;
  }

  async has(digest: Digest): Promise<boolean> {
    return this.#blobs.has(check(digest));
  }

  async stat(digest: Digest): Promise<BlobInfo> {
    const entry = this.#get(digest);
    return { digest, size: entry.bytes.byteLength, createdAt: entry.createdAt };
  }

  async open(digest: Digest, options: ReadOptions = {}): Promise<Readable> {
    options.signal?.throwIfAborted();
    const entry = this.#get(digest);
    const stream = Readable.from([entry.bytes], { objectMode: false });
    return options.signal === undefined ? stream : addAbortSignal(options.signal, stream);
  }

  async readBytes(digest: Digest, options: ReadBytesOptions = {}): Promise<Uint8Array> {
    const entry = this.#get(digest);
    const maxSize = options.maxSize ?? DEFAULT_READ_BYTES_MAX;
    if (entry.bytes.byteLength > maxSize) {
      throw new BuilderError(
        'EINVAL',
        `blob ${digest} is ${entry.bytes.byteLength} bytes, more than the ${maxSize} allowed here`,
      );
    }
    return Buffer.from(entry.bytes);
  }

  async write(source: BlobSource, options: WriteOptions = {}): Promise<WriteResult> {
    const { expectedDigest, expectedSize, signal } = options;
    checkExpectedSize(expectedSize);
    if (expectedDigest !== undefined) check(expectedDigest);
    const what = expectedDigest === undefined ? 'blob' : `blob ${expectedDigest}`;
    const tap =
      expectedDigest === undefined
        ? new HashTap(expectedSize === undefined ? {} : { maxSize: expectedSize })
        : verifyStream(expectedDigest, expectedSize, { what });
    const chunks: Buffer[] = [];
    try {
      await pipeline(
        source,
        tap,
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            chunks.push(chunk);
            callback();
          },
        }),
        signal === undefined ? {} : { signal },
      );
    } catch (err) {
      throw storeError(err, `writing ${what}`);
    }
    if (expectedSize !== undefined && tap.bytes !== expectedSize)
      throw sizeMismatch(what, tap.bytes, expectedSize);
    const digest = tap.digest();
    const existing = this.#blobs.get(digest);
    if (existing !== undefined) {
      existing.createdAt = new Date(); // as the fs store refreshes the mtime (GC grace)
      return { digest, size: tap.bytes, created: false };
    }
    this.#blobs.set(digest, { bytes: Buffer.concat(chunks), createdAt: new Date() });
    return { digest, size: tap.bytes, created: true };
  }

  async writeBytes(bytes: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    return this.write([bytes], options);
  }

  async delete(digest: Digest): Promise<boolean> {
    return this.#blobs.delete(check(digest));
  }

  async *walk(): AsyncIterable<BlobInfo> {
    for (const [digest, entry] of [...this.#blobs]) {
      yield { digest: digest as Digest, size: entry.bytes.byteLength, createdAt: entry.createdAt };
    }
  }

  async syncNames(): Promise<void> {}

  async cleanIngest(): Promise<number> {
    return 0;
  }
}
