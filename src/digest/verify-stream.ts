// Verify while streaming (ggcr internal/verify): hash as data passes, refuse bytes beyond the
// declared size, and fail at EOF when the size or digest is wrong. Every untrusted read
// (registry blobs, archives) goes through this.

import type { TransformCallback } from 'node:stream';
import { BuilderError, DigestMismatchError } from '../errors.js';
import { type Digest, digestAlgorithm, parseDigest } from './digest.js';
import { HashTap } from './hash-tap.js';

export interface VerifyStreamOptions {
  /** Names the content in error messages, e.g. `blob sha256:…` or `layer 3`. */
  what?: string;
}

export class VerifyingStream extends HashTap {
  readonly expected: Digest;
  readonly expectedSize: number | undefined;
  readonly what: string;

  constructor(expected: Digest, size?: number, options: VerifyStreamOptions = {}) {
    const checked = parseDigest(expected);
    if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
      throw new BuilderError('EINVAL', `invalid expected size ${size}: must be a non-negative integer`);
    }
    super(
      size === undefined
        ? { algorithm: digestAlgorithm(checked) }
        : { algorithm: digestAlgorithm(checked), maxSize: size },
    );
    this.expected = checked;
    this.expectedSize = size;
    this.what = options.what ?? 'content';
  }

  protected override onEnd(callback: TransformCallback): void {
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      callback(
        new BuilderError(
          'EDIGEST',
          `${this.what} is ${this.bytes} bytes, expected ${this.expectedSize} (${this.expected})`,
        ),
      );
      return;
    }
    const actual = this.digest();
    if (actual !== this.expected) {
      callback(new DigestMismatchError(this.expected, actual, this.what));
      return;
    }
    callback();
  }
}

/**
 * A Transform that passes data through unchanged while hashing it. Bytes beyond `size` fail
 * the stream at once (EDIGEST) and are not passed on; at the end a wrong size fails with
 * EDIGEST and a wrong digest with `DigestMismatchError`. Use it inside `pipeline()`.
 */
export function verifyStream(
  expected: Digest,
  size?: number,
  options: VerifyStreamOptions = {},
): VerifyingStream {
  return new VerifyingStream(expected, size, options);
}
