// One pass from a tar stream to a stored layer blob: tar → sha256 (diffID) → gzip or zstd →
// sha256 + byte count (digest, size) → the caller's Writable (the content store's ingest). Memory
// is flat: stream/promises.pipeline moves one chunk at a time with backpressure, and every error
// (source, compressor, sink, abort) rejects the one promise.
//
// gzip level: 6 by default. BuildKit writes gzip layers with Go's compress/gzip at
// gzip.DefaultCompression (util/compression/gzip.go), which Go's flate maps to level 6; zlib's
// Z_DEFAULT_COMPRESSION is 6 too. We pass 6 explicitly rather than -1 so the choice cannot
// drift with a zlib update. Output is deterministic for a given input, level and zlib build
// (gzip header mtime 0, no file name), but it is not byte-identical to Go's encoder: identical
// layers from BuildKit and from us share a diffID, not a digest. gzip is written as 1 MiB
// members compressed in parallel on the thread pool (parallel-gzip.ts): one stream to every
// reader, and on two cores about twice as fast as one zlib stream.
//
// zstd level: 3 by default. BuildKit (util/compression/zstd.go) uses klauspost/compress's
// SpeedDefault unless compression-level is given, which that library equates with zstd level 3,
// libzstd's default too. Node 20's zlib has no zstd (it arrived in Node 22.15), so zstd goes
// through libzstd from the zstd-napi package (zstd-codec.ts), one frame with a content checksum.
// The output is deterministic for a given input, level and libzstd version.
//
// Reading sniffs the magic bytes: gzip (zlib), zstd (zstd-codec.ts), bzip2 (bzip2-codec.ts) and
// xz (xz-codec.ts) are decompressed, anything else passes through as a plain tar. The three
// codecs outside Node are loaded on first use.

import {
  pipeline as pipelineCallback,
  Readable,
  Transform,
  type TransformCallback,
  type Writable,
} from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createSha256, type Sha256 } from '../digest/sha256.js';
import { BuilderError } from '../errors.js';
import { zlib } from '../sys/lazy-builtins.js';
import { bzip2Decompress } from './bzip2-codec.js';
import { ParallelGzip } from './parallel-gzip.js';
import { xzDecompress } from './xz-codec.js';
import { createZstdCompressor, DEFAULT_ZSTD_LEVEL, zstdDecompress } from './zstd-codec.js';

export { DEFAULT_ZSTD_LEVEL, MAX_ZSTD_LEVEL } from './zstd-codec.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';
export type DetectedCompression = 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none';

/** BuildKit's default (Go's gzip.DefaultCompression = flate level 6). */
export const DEFAULT_GZIP_LEVEL = 6;

export interface LayerStreamOptions {
  /** Default 'gzip'. 'none' stores the tar itself (digest = diffId). */
  compression?: LayerCompression;
  /** gzip level 0-9 (default 6); zstd level 0-22 (default 3; 0 is libzstd's default, 3). */
  level?: number;
  signal?: AbortSignal;
}

export interface LayerStreamResult {
  /** sha256 of the uncompressed tar, "sha256:<hex>". */
  diffId: string;
  /** sha256 of the bytes written to the sink, "sha256:<hex>". */
  digest: string;
  /** Bytes written to the sink. */
  size: number;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  compression: LayerCompression;
}

/** A pass-through that hashes and counts what flows by. */
class DigestTap extends Transform {
  readonly #hash: Sha256 = createSha256();
  bytes = 0;
  #digest: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#digest = `sha256:${this.#hash.digest().toString('hex')}`;
    callback();
  }

  get digest(): string {
    if (this.#digest === undefined)
      throw new BuilderError('EINTERNAL', 'digest read before the stream ended');
    return this.#digest;
  }
}

/**
 * Streams `tar` through hashing and compression into `sink` in one pass and returns the
 * layer's diffId, digest and sizes once the sink has finished.
 */
export async function compressLayer(
  tar: Readable | AsyncIterable<Uint8Array>,
  sink: Writable,
  options: LayerStreamOptions = {},
): Promise<LayerStreamResult> {
  const compression = options.compression ?? 'gzip';
  if (compression !== 'gzip' && compression !== 'zstd' && compression !== 'none') {
    throw new BuilderError('EINVAL', `unsupported layer compression ${JSON.stringify(compression)}`);
  }
  const level = options.level ?? (compression === 'zstd' ? DEFAULT_ZSTD_LEVEL : DEFAULT_GZIP_LEVEL);
  if (compression === 'gzip' && (!Number.isInteger(level) || level < 0 || level > 9)) {
    throw new BuilderError('EINVAL', `gzip level must be an integer from 0 to 9, not ${level}`);
  }
  // Checks the level and loads libzstd before a byte of `tar` is read.
  const compressor =
    compression === 'zstd'
      ? await createZstdCompressor(level)
      : compression === 'gzip'
        ? new ParallelGzip(level)
        : undefined;
  const source = tar instanceof Readable ? tar : Readable.from(tar, { objectMode: false });
  const uncompressed = new DigestTap();
  const signal = options.signal ? { signal: options.signal } : {};
  if (compressor === undefined) {
    await pipeline(source, uncompressed, sink, signal);
    const digest = uncompressed.digest;
    return {
      diffId: digest,
      digest,
      size: uncompressed.bytes,
      uncompressedSize: uncompressed.bytes,
      compression,
    };
  }
  const compressed = new DigestTap();
  await pipeline(source, uncompressed, compressor, compressed, sink, signal);
  return {
    diffId: uncompressed.digest,
    digest: compressed.digest,
    size: compressed.bytes,
    uncompressedSize: uncompressed.bytes,
    compression,
  };
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Names the compression of a blob from its first bytes (6 are enough). */
export function detectCompression(head: Uint8Array): DetectedCompression {
  const starts = (...magic: number[]) => magic.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2'; // "BZh"
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  return 'none';
}

/**
 * Turns a layer blob (or an archive) of any supported compression into its tar stream: gzip,
 * zstd, bzip2 and xz are decompressed (concatenated members or frames included), anything else
 * is passed through. Errors of the input or the decompressor surface on the returned stream;
 * corrupt compressed data is EINVAL (zlib's own errors for gzip), and EPRECONDITION when the
 * zstd native module is missing.
 */
export async function decompressLayer(
  blob: Readable | AsyncIterable<Uint8Array>,
): Promise<{ compression: DetectedCompression; tar: Readable }> {
  const it = blob[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < 6) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const chunk = toBuffer(r.value);
    head.push(chunk);
    length += chunk.length;
  }
  const first = Buffer.concat(head);
  const compression = detectCompression(first);
  async function* replay(): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    if (done) return;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield toBuffer(r.value);
      }
    } finally {
      await it.return?.();
    }
  }
  const whole = Readable.from(replay(), { objectMode: false });
  try {
    switch (compression) {
      case 'none':
        return { compression, tar: whole };
      case 'gzip': {
        const gunzip = zlib().createGunzip({ chunkSize: 64 * 1024 });
        // The callback form: pipeline destroys `gunzip` with any error, which its reader then sees.
        pipelineCallback(whole, gunzip, () => {});
        return { compression, tar: gunzip };
      }
      case 'zstd':
        return { compression, tar: await zstdDecompress(whole) };
      case 'bzip2':
        return { compression, tar: await bzip2Decompress(whole) };
      case 'xz':
        return { compression, tar: await xzDecompress(whole) };
    }
  } catch (err) {
    // A codec that did not load: nothing reads `whole`, so release the input here.
    whole.destroy();
    await it.return?.();
    throw err;
  }
}
