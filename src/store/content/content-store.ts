// The content store's narrow interfaces (containerd core/content: Provider, InfoProvider,
// Ingester, Manager). Functions should ask for the narrowest one they need.
//
// Contract shared by every implementation (checked by test/helpers/content-store-suite.ts):
// * Blobs are immutable and addressed by digest; nothing is visible before it is complete
//   and verified.
// * `write` hashes while it ingests, checks the expected digest and size when given, and
//   fails with EDIGEST (DigestMismatchError for a wrong digest) leaving nothing behind.
// * Writing a blob that already exists succeeds with `created: false` and does not rewrite it;
//   when the expected digest is given the incoming stream is still read to its end and
//   verified (so a lying source still fails), otherwise it is ingested and then discarded.
// * Missing blobs are ENOTFOUND for `open`, `stat` and `readBytes`.

import type { Readable } from 'node:stream';
import type { Digest } from '../../digest/digest.js';

export interface BlobInfo {
  digest: Digest;
  size: number;
  /** When the blob was committed or last written again (for GC grace periods). */
  createdAt: Date;
}

export interface WriteOptions {
  /** Verify the content against this digest (its algorithm is the one used to hash). */
  expectedDigest?: Digest;
  /** Verify the content is exactly this long; more bytes fail at once. */
  expectedSize?: number;
  signal?: AbortSignal;
  /**
   * The new blob's name is made durable by a later syncNames(), not before this returns:
   * for a writer with a commit point of its own (a build: the image record), so that the
   * blobs it writes share one directory fsync. Until then a crash may lose the blob (a cache
   * entry pointing at it is then a miss), never leave a torn one.
   */
  deferDirSync?: boolean;
}

export interface WriteResult {
  digest: Digest;
  size: number;
  /** False when the blob was already in the store (not an error, as containerd's EEXIST). */
  created: boolean;
}

export interface ReadOptions {
  signal?: AbortSignal;
}

export interface ReadBytesOptions extends ReadOptions {
  /** Refuse blobs larger than this (EINVAL); default 16 MiB. */
  maxSize?: number;
}

/** Reads blobs. */
export interface BlobProvider {
  /** A fresh stream over the blob; rejects ENOTFOUND before any stream exists. */
  open(digest: Digest, options?: ReadOptions): Promise<Readable>;
  /** The whole blob, verified against its digest; for small JSON documents. */
  readBytes(digest: Digest, options?: ReadBytesOptions): Promise<Uint8Array>;
}

/** Answers questions about blobs without reading them. */
export interface BlobInfoProvider {
  stat(digest: Digest): Promise<BlobInfo>;
  has(digest: Digest): Promise<boolean>;
}

/** What `write` accepts: a Node stream, an async generator, or chunks in an array. */
export type BlobSource = Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * A source that can also write itself into a new file and say what it wrote (a layer tar the
 * addon writes: archive/tar-writer.ts TarArchive). A store that keeps files may let it;
 * undefined means it could not, nothing was written, and the store reads it as usual.
 */
export interface FileWritable {
  writeToFile(fd: number): Promise<{ digest: string; size: number } | undefined>;
  /** Its bytes when it has at most `max` of them, else undefined (it is then written as above). */
  inMemory?(max: number): Uint8Array | undefined;
}

/** Adds blobs. */
export interface Ingester {
  write(source: BlobSource, options?: WriteOptions): Promise<WriteResult>;
  writeBytes(bytes: Uint8Array, options?: WriteOptions): Promise<WriteResult>;
  /** Makes the names of the blobs in the store durable: those written with deferDirSync, by
   * this process or another, included. */
  syncNames(): Promise<void>;
}

/** Lists and removes blobs (GC). */
export interface BlobManager {
  /** True when the blob was there. */
  delete(digest: Digest): Promise<boolean>;
  /** Every committed blob, in no particular order. */
  walk(): AsyncIterable<BlobInfo>;
  /** Removes abandoned ingests older than `olderThanMs` (default one hour); returns how many. */
  cleanIngest(options?: { olderThanMs?: number }): Promise<number>;
}

export interface ContentStore extends BlobProvider, BlobInfoProvider, Ingester, BlobManager {}

export const DEFAULT_READ_BYTES_MAX = 16 * 1024 * 1024;
export const DEFAULT_INGEST_MAX_AGE_MS = 60 * 60 * 1000;
