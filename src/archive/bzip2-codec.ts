// bzip2 decompression (ADD of a .tar.bz2, `strata load`/`import` of a bzip2'd archive) through
// `unbzip2-stream`, a pure-JavaScript decoder: no native code, nothing to build. It decodes one
// 100-900 KB block at a time, checks every block CRC and the stream CRC, and reads concatenated
// streams (pbzip2's output). Loaded on first use.
//
// The package is a classic `through` stream that decodes synchronously inside write() and emits
// what it decoded at once; this Transform feeds it and passes the output on, so it takes part in
// stream/promises.pipeline like any Node stream. Memory is bounded by a few blocks for ordinary
// archives (a pathological bzip2 bomb can still expand one input chunk a lot).

import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import { BuilderError } from '../errors.js';

function bzip2Error(err: unknown): BuilderError {
  // The decoder's messages are whimsical ("meow i'm a kitty, that's an error"): they stay in
  // `cause`, the message says what happened. It has no error codes; its one sentence for a
  // stream cut short is recognised here.
  const message = err instanceof Error ? err.message : String(err);
  const truncated = /ended prematurely/.test(message);
  return new BuilderError('EINVAL', `bzip2 data is ${truncated ? 'truncated' : 'corrupt'}`, { cause: err });
}

class Bunzip2 extends Transform {
  readonly #decoder: ReturnType<typeof import('unbzip2-stream')>;
  #out: Buffer[] = [];
  #error: Error | undefined;

  constructor(create: typeof import('unbzip2-stream')) {
    super();
    this.#decoder = create();
    this.#decoder.on('data', (data) => this.#out.push(data));
    this.#decoder.on('error', (err) => {
      this.#error ??= err;
    });
  }

  #settle(callback: TransformCallback): void {
    for (const data of this.#out) this.push(data);
    this.#out = [];
    if (this.#error !== undefined) {
      this.#decoder.destroy();
      callback(bzip2Error(this.#error));
      return;
    }
    callback();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#decoder.write(chunk);
    } catch (err) {
      this.#error ??= err as Error;
    }
    this.#settle(callback);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#decoder.end();
    } catch (err) {
      this.#error ??= err as Error;
    }
    this.#settle(callback);
  }
}

/** The decompressed bytes of a bzip2 stream; errors of `compressed` and of the data surface on it. */
export async function bzip2Decompress(compressed: Readable): Promise<Readable> {
  const create = (await import('unbzip2-stream')).default;
  const out = new Bunzip2(create);
  // The callback form: pipeline destroys `out` with any error, which its reader then sees.
  pipeline(compressed, out, () => {});
  return out;
}
