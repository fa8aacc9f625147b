// The one identifier type for content: `algorithm:encoded`, after opencontainers/go-digest.
// `parseDigest()` is the only producer of a `Digest` (apart from the hashing helpers, which
// build one from a hash they computed), so holding a `Digest` means it was validated.

import { BuilderError } from '../errors.js';
import { crypto } from '../sys/lazy-builtins.js';
import { sha256Hex } from './sha256.js';

/** A validated digest string such as `sha256:<64 lowercase hex>`. */
export type Digest = string & { readonly __digest: true };

/** The algorithms we can compute, with the exact length of their lowercase hex encoding. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha384: 96, sha512: 128 } as const;

export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

// The OCI grammar: algorithm components joined by + . _ -, then ':' and the encoded part.
const ALGORITHM_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
const HEX_RE = /^[a-f0-9]+$/;

export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return Object.hasOwn(DIGEST_ALGORITHMS, value);
}

/**
 * Validates `value` as a digest and brands it. Registered algorithms (sha256, sha384, sha512)
 * need exactly the right number of lowercase hex digits; anything else is EINVAL.
 */
export function parseDigest(value: string): Digest {
  const problem = digestProblem(value);
  if (problem !== undefined) {
    throw new BuilderError('EINVAL', `invalid digest ${JSON.stringify(value)}: ${problem}`);
  }
  return value as Digest;
}

/** True when `parseDigest(value)` would succeed. */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && digestProblem(value) === undefined;
}

function digestProblem(value: string): string | undefined {
  if (typeof value !== 'string') return 'not a string';
  const colon = value.indexOf(':');
  if (colon < 0) return 'expected <algorithm>:<hex>, as in sha256:e3b0c442…';
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (algorithm === '') return 'the algorithm is empty';
  if (!ALGORITHM_RE.test(algorithm)) return `malformed algorithm ${JSON.stringify(algorithm)}`;
  if (!isDigestAlgorithm(algorithm)) {
    return `unsupported algorithm ${JSON.stringify(algorithm)} (supported: ${Object.keys(DIGEST_ALGORITHMS).join(', ')})`;
  }
  const want = DIGEST_ALGORITHMS[algorithm];
  if (encoded.length !== want) {
    return `a ${algorithm} digest has ${want} hex digits, this one has ${encoded.length}`;
  }
  if (!HEX_RE.test(encoded)) return 'the encoded part must be lowercase hexadecimal';
  return undefined;
}

export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

/** The encoded (hex) part after the colon. */
export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** Builds a digest from a hex string that a hash function produced. */
export function digestFromHex(algorithm: DigestAlgorithm, hex: string): Digest {
  return parseDigest(`${algorithm}:${hex}`);
}

/** The digest of some bytes (or a string, encoded as UTF-8). */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  const hex =
    algorithm === 'sha256' ? sha256Hex(data) : crypto().createHash(algorithm).update(data).digest('hex');
  return `${algorithm}:${hex}` as Digest;
}

/** `sha256:` digest of some bytes (or a string, encoded as UTF-8). */
export function sha256Of(data: Uint8Array | string): Digest {
  return digestOf(data, 'sha256');
}
