// xz decompression (ADD of a .tar.xz, `strata load`/`import` of an xz'd archive) through
// `xz-decompress`: XZ Embedded compiled to WebAssembly and shipped inside the npm package (no
// native build, no download). It reads concatenated streams, checks CRC32/CRC64 and fails on
// truncated or corrupt data; it cannot read files made with `xz --check=sha256` (the default
// is CRC64), which fail with EINVAL saying so. Loaded on first use.
//
// Its API is a web ReadableStream over a web ReadableStream. We feed it from a pull-based source
// (highWaterMark 0: one compressed chunk is read only when the decoder asks) and read it back
// as a Node Readable, so memory is flat. The package serializes its decoders with a process-wide
// lock: a second xz stream starts once the first has ended or been cancelled, so one consumer
// must not hold two xz streams at once (ADD and load read one archive at a time).

import { Readable } from 'node:stream';
import { BuilderError } from '../errors.js';

/** XZ Embedded's error codes, as the end of "xz data is …". */
const XZ_ERRORS: Record<string, string> = {
  '2': 'not supported: unknown integrity check',
  '3': 'too large to decode: out of memory',
  '4': 'too large to decode: memory limit exceeded',
  '5': 'corrupt: not in the xz format',
  // XZ Embedded as built in the package has no SHA-256: `xz --check=sha256` files end here.
  '6': 'not supported: it uses options the decoder lacks (a SHA-256 check? recompress with xz --check=crc64)',
  '7': 'corrupt',
  '8': 'truncated',
};

function xzError(err: unknown): BuilderError {
  const message = err instanceof Error ? err.message : String(err);
  const code = /error code (\d+)/.exec(message)?.[1];
  const what = (code === undefined ? undefined : XZ_ERRORS[code]) ?? `corrupt: ${message}`;
  return new BuilderError('EINVAL', `xz data is ${what}`, { cause: err });
}

async function* decode(
  XzReadableStream: typeof import('xz-decompress').XzReadableStream,
  compressed: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  // Web streams load on first use: node:stream/web alone takes ~3 ms to load, every command.
  const { ReadableStream } = await import('node:stream/web');
  const it = compressed[Symbol.asyncIterator]();
  let sourceError: unknown;
  const source = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const r = await it.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        } catch (err) {
          sourceError = err;
          throw err;
        }
      },
      async cancel() {
        await it.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  const out = Readable.fromWeb(new XzReadableStream(source), { objectMode: false });
  try {
    for await (const chunk of out) yield chunk as Uint8Array;
  } catch (err) {
    // Errors of the compressed input pass as they are; the decoder's become EINVAL.
    throw err === sourceError ? err : xzError(err);
  } finally {
    out.destroy();
  }
}

/** The decompressed bytes of an xz stream; errors of `compressed` and of the data surface on it. */
export async function xzDecompress(compressed: AsyncIterable<Uint8Array>): Promise<Readable> {
  // A webpack UMD bundle: Node sees only its `module.exports`, as the default export.
  const { XzReadableStream } = (await import('xz-decompress')).default;
  return Readable.from(decode(XzReadableStream, compressed), { objectMode: false });
}
