// One pass from a tar stream to a stored layer blob: tar → sha256 (diffID) → gzip → sha256 +
// byte count (digest, size) → the caller's Writable (the content store's ingest). Memory is
// flat: stream/promises.pipeline moves one chunk at a time with backpressure, and every error
// (source, compressor, sink, abort) rejects the one promise.
//
// gzip level: 6 by default. BuildKit writes gzip layers with Go's compress/gzip at
// gzip.DefaultCompression (util/compression/gzip.go), which Go's flate maps to level 6; zlib's
// Z_DEFAULT_COMPRESSION is 6 too. We pass 6 explicitly rather than -1 so the choice cannot
// drift with a zlib update. Output is deterministic for a given input, level and zlib build
// (gzip header mtime 0, no file name), but it is not byte-identical to Go's encoder: identical
// layers from BuildKit and from us share a diffID, not a digest.
//
// zstd: Node 20's zlib has none (it arrived in Node 22.15/23.8), so zstd is refused with
// EPRECONDITION until we can require a newer Node or take a dependency. Reading sniffs the
// magic bytes: gzip is decompressed, plain tar passes through, zstd/bzip2/xz are refused.

import { createHash, type Hash } from 'node:crypto';
import {
  pipeline as pipelineCallback,
  Readable,
  Transform,
  type TransformCallback,
  type Writable,
} from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, constants as zlibConstants } from 'node:zlib';
import { BuilderError } from '../errors.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';
export type DetectedCompression = 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none';

/** BuildKit's default (Go's gzip.DefaultCompression = flate level 6). */
export const DEFAULT_GZIP_LEVEL = 6;

export interface LayerStreamOptions {
  /** Default 'gzip'. 'none' stores the tar itself (digest = diffId). */
  compression?: LayerCompression;
  /** gzip level 0-9 (default 6). */
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
  readonly #hash: Hash = createHash('sha256');
  bytes = 0;
  #digest: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#digest = `sha256:${this.#hash.digest('hex')}`;
    callback();
  }

  get digest(): string {
    if (this.#digest === undefined)
      throw new BuilderError('EINTERNAL', 'digest read before the stream ended');
    return this.#digest;
  }
}

function zstdUnsupported(): BuilderError {
  return new BuilderError(
    'EPRECONDITION',
    'zstd layers need Node 22.15 or later (Node 20 has no zstd in zlib)',
    {
      hint: 'use gzip compression',
    },
  );
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
  if (compression === 'zstd') throw zstdUnsupported();
  const level = options.level ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new BuilderError('EINVAL', `gzip level must be an integer from 0 to 9, not ${level}`);
  }
  const source = tar instanceof Readable ? tar : Readable.from(tar, { objectMode: false });
  const uncompressed = new DigestTap();
  const signal = options.signal ? { signal: options.signal } : {};
  if (compression === 'none') {
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
  const gzip = createGzip({ level, chunkSize: 64 * 1024, flush: zlibConstants.Z_NO_FLUSH });
  await pipeline(source, uncompressed, gzip, compressed, sink, signal);
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
 * Turns a layer blob of any supported compression into its tar stream: gzip is decompressed
 * (concatenated members included), plain tar is passed through; zstd, bzip2 and xz are
 * EPRECONDITION. Errors of the input or the decompressor surface on the returned stream.
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
  if (compression !== 'gzip' && compression !== 'none') {
    await it.return?.();
    if (compression === 'zstd') throw zstdUnsupported();
    throw new BuilderError('EPRECONDITION', `${compression} layers are not supported yet`);
  }
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
  if (compression === 'none') return { compression, tar: whole };
  const gunzip = createGunzip({ chunkSize: 64 * 1024 });
  // The callback form: pipeline destroys `gunzip` with any error, which its reader then sees.
  pipelineCallback(whole, gunzip, () => {});
  return { compression, tar: gunzip };
}
