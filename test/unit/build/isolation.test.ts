import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ISOLATIONS, parseIsolation } from '../../../src/build/run-executor.js';
import { isBuilderError } from '../../../src/errors.js';

test('--isolation: the four kinds, default when absent, a clear error otherwise', () => {
  assert.equal(parseIsolation(undefined), 'default');
  for (const kind of ISOLATIONS) assert.equal(parseIsolation(kind), kind);
  assert.throws(
    () => parseIsolation('hyperv'),
    (err) =>
      isBuilderError(err) &&
      err.code === 'EINVAL' &&
      /unknown isolation "hyperv"/.test(err.message) &&
      /default, native, runc, chroot/.test(err.hint ?? ''),
  );
});
