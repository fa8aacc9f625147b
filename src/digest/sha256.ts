// SHA-256 without node:crypto where the addon is: the same OpenSSL functions, reached through
// sys/native.ts, so a command whose work hashes only small things (a one-file COPY: cache keys,
// config, manifest, records) never loads node:crypto, ~3 ms at every start. Without the addon
// (or in a Node that does not export OpenSSL's SHA-256) node:crypto is loaded on first use.

import { crypto } from '../sys/lazy-builtins.js';
import { nativeSha256, nativeSha256Of } from '../sys/native.js';

/** An incremental SHA-256, as node:crypto's Hash for the calls we make. */
export interface Sha256 {
  /** Strings are hashed as UTF-8. */
  update(data: Uint8Array | string): Sha256;
  /** The digest; the hash cannot be used after. */
  digest(): Buffer;
}

const bytesOf = (data: Uint8Array | string): Uint8Array =>
  typeof data === 'string' ? Buffer.from(data, 'utf8') : data;

export function createSha256(): Sha256 {
  const native = nativeSha256();
  if (native === undefined) return crypto().createHash('sha256');
  const state = native.init();
  const hash: Sha256 = {
    update(data) {
      native.update(state, bytesOf(data));
      return hash;
    },
    digest: () => native.final(state),
  };
  return hash;
}

/** The lowercase hex SHA-256 of some bytes (or a string, as UTF-8). */
export function sha256Hex(data: Uint8Array | string): string {
  const once = nativeSha256Of();
  return once === undefined
    ? crypto().createHash('sha256').update(data).digest('hex')
    : once(bytesOf(data)).toString('hex');
}
