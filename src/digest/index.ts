export {
  DIGEST_ALGORITHMS,
  type Digest,
  type DigestAlgorithm,
  digestAlgorithm,
  digestFromHex,
  digestHex,
  digestOf,
  isDigest,
  isDigestAlgorithm,
  parseDigest,
  sha256Of,
} from './digest.js';
export { digestOfStream, HashTap, type HashTapOptions } from './hash-tap.js';
export { VerifyingStream, type VerifyStreamOptions, verifyStream } from './verify-stream.js';
