// SHA-256 through the addon (src/digest/sha256.ts) gives node:crypto's digests: one call or in
// pieces, bytes or UTF-8 strings. Without the addon the same calls fall back to node:crypto
// (test/unit/sys/addon-missing.test.ts).

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { digestOf, sha256Of } from '../../../src/digest/digest.js';
import { createSha256, sha256Hex } from '../../../src/digest/sha256.js';
import { nativeSha256Of, randomHex, sysUnavailableReason } from '../../../src/sys/index.js';
import { skipIf } from '../../integration/prereqs.js';

const reference = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

const inputs: (Uint8Array | string)[] = [
  '',
  'abc',
  'grüße, 世界 🚀',
  Buffer.alloc(0),
  Buffer.from('x'),
  randomBytes(63),
  randomBytes(64),
  randomBytes(65),
  randomBytes(1 << 20),
  new Uint8Array(randomBytes(1000).buffer, 7, 500), // a view that does not start its buffer
];

test('the addon hashes (so node:crypto stays unloaded), as node:crypto does', (t) => {
  if (skipIf(t, sysUnavailableReason())) return;
  assert.equal(typeof nativeSha256Of(), 'function', 'this Node exports OpenSSL SHA-256');
  for (const data of inputs) {
    assert.equal(sha256Hex(data), reference(data));
    assert.equal(sha256Of(data), `sha256:${reference(data)}`);
    assert.equal(createSha256().update(data).digest().toString('hex'), reference(data));
  }
  assert.equal(digestOf('abc', 'sha512'), `sha512:${createHash('sha512').update('abc').digest('hex')}`);
});

test('createSha256 takes its input in pieces, strings and bytes mixed', () => {
  const whole = Buffer.concat([Buffer.from('héllo '), randomBytes(3000), Buffer.from('wörld')]);
  const h = createSha256();
  h.update('héllo ').update(whole.subarray(7, 3007)).update('wörld');
  assert.equal(h.digest().toString('hex'), reference(whole));
});

test('randomHex: that many random bytes, as hex, not twice the same', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const h = randomHex(8);
    assert.match(h, /^[0-9a-f]{16}$/);
    seen.add(h);
  }
  assert.equal(seen.size, 200);
  assert.equal(randomHex(0), '');
  assert.match(randomHex(32), /^[0-9a-f]{64}$/);
});
