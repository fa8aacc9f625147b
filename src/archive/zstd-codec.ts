// zstd for layers, through the low-level binding of the `zstd-napi` package (libzstd 1.5.x,
// compiled from the sources inside the npm package when it is installed). Node 20's zlib has no
// zstd; see docs/decisions.md for the packages weighed.
//
// The binding is loaded on first use, so commands that never meet zstd do not load a native
// module, and a failed native build only costs zstd (EPRECONDITION with a hint), not gzip.
//
// Both directions keep memory flat:
// - compressing, each input chunk yields at most about its own size of output (a Transform);
// - decompressing is an async generator that yields one output buffer (ZSTD_DStreamOutSize,
//   128 KiB) at a time and asks libzstd for more only when the reader pulls, so a layer of
//   zeros that decompresses 10,000:1 never sits in memory. High-level DecompressStream would
//   push the whole expansion of an input chunk at once, which is why we drive the context here.

import { Readable, Transform, type TransformCallback } from 'node:stream';
import { BuilderError } from '../errors.js';

type ZstdBinding = typeof import('zstd-napi/binding.js');

/** libzstd's default level, and BuildKit's (klauspost/compress SpeedDefault ≈ zstd level 3). */
export const DEFAULT_ZSTD_LEVEL = 3;
/** zstd levels we accept: 0 (libzstd's default, 3) to 22. Negative "fast" levels are not offered. */
export const MAX_ZSTD_LEVEL = 22;

let loading: Promise<ZstdBinding> | undefined;

function loadZstd(): Promise<ZstdBinding> {
  loading ??= import('zstd-napi/binding.js').then(
    (m) => m.default, // CommonJS: its module.exports
    (err: unknown) => {
      loading = undefined;
      throw new BuilderError(
        'EPRECONDITION',
        'zstd is unavailable: the zstd-napi native module did not load',
        {
          hint: 'Rebuild it with `npm rebuild zstd-napi` (needs g++, make and python3).',
          cause: err,
        },
      );
    },
  );
  return loading;
}

function zstdError(err: unknown): BuilderError {
  const message = err instanceof Error ? err.message : String(err);
  return new BuilderError('EINVAL', `zstd data is corrupt: ${message}`, { cause: err });
}

class ZstdCompress extends Transform {
  readonly #z: ZstdBinding;
  readonly #cctx: InstanceType<ZstdBinding['CCtx']>;

  constructor(z: ZstdBinding, level: number) {
    super();
    this.#z = z;
    this.#cctx = new z.CCtx();
    this.#cctx.setParameter(z.CParameter.compressionLevel, level);
    // A content checksum (XXH64) ends the frame, as the zstd CLI and BuildKit write it.
    this.#cctx.setParameter(z.CParameter.checksumFlag, 1);
  }

  #run(input: Buffer, end: boolean): void {
    const { EndDirective } = this.#z;
    const outSize = this.#z.cStreamOutSize();
    let src = input;
    for (;;) {
      const out = Buffer.allocUnsafe(outSize);
      const [remaining, produced, consumed] = this.#cctx.compressStream2(
        out,
        src,
        end ? EndDirective.end : EndDirective.continue,
      );
      if (produced > 0) this.push(out.subarray(0, produced));
      src = src.subarray(consumed);
      // continue: done when the input is used up and the output buffer was not filled;
      // end: done when libzstd says nothing remains to flush.
      if (end ? remaining === 0 : src.length === 0 && produced < outSize) return;
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#run(chunk, false);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#run(Buffer.alloc(0), true);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }
}

/** A Transform writing one zstd frame (with a content checksum) at `level` (0-22). */
export async function createZstdCompressor(level: number = DEFAULT_ZSTD_LEVEL): Promise<Transform> {
  if (!Number.isInteger(level) || level < 0 || level > MAX_ZSTD_LEVEL) {
    throw new BuilderError(
      'EINVAL',
      `zstd level must be an integer from 0 to ${MAX_ZSTD_LEVEL}, not ${level}`,
    );
  }
  return new ZstdCompress(await loadZstd(), level);
}

async function* decodeFrames(z: ZstdBinding, compressed: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const dctx = new z.DCtx();
  const outSize = z.dStreamOutSize();
  let inFrame = false;
  for await (const chunk of compressed) {
    let src: Uint8Array = chunk;
    for (;;) {
      const out = Buffer.allocUnsafe(outSize);
      let result: [number, number, number];
      try {
        result = dctx.decompressStream(out, src);
      } catch (err) {
        throw zstdError(err);
      }
      const [hint, produced, consumed] = result;
      src = src.subarray(consumed);
      // 0: a frame ended and everything was flushed; concatenated frames go on in `src`.
      inFrame = hint !== 0;
      if (produced > 0) yield out.subarray(0, produced);
      // A full output buffer may hide more output for the same input: ask again.
      if (src.length === 0 && produced < outSize) break;
    }
  }
  if (inFrame) throw new BuilderError('EINVAL', 'zstd data is truncated: the stream ended inside a frame');
}

/**
 * The decompressed bytes of a zstd stream (one or more frames) as a Readable that produces
 * output only as fast as it is read. Errors of `compressed` and of the data surface on it.
 */
export async function zstdDecompress(compressed: AsyncIterable<Uint8Array>): Promise<Readable> {
  const z = await loadZstd();
  return Readable.from(decodeFrames(z, compressed), { objectMode: false, highWaterMark: 64 * 1024 });
}
