// Without the addon (here: STRATA_NATIVE points nowhere), every call says how to build it.
// A file of its own: the addon is loaded once per process.

import assert from 'node:assert/strict';
import { test } from 'node:test';

test('a missing addon makes calls fail with EPRECONDITION and a build hint', async () => {
  process.env.STRATA_NATIVE = '/nonexistent/strata_sys.node';
  const { BuilderError } = await import('../../../src/errors.js');
  const sys = await import('../../../src/sys/index.js');
  assert.equal(sys.sysAvailable(), false);
  assert.match(
    sys.sysUnavailableReason() ?? '',
    /\/nonexistent\/strata_sys\.node failed to load: Cannot find module/,
  );
  assert.doesNotMatch(sys.sysUnavailableReason() ?? '', /\n/);
  for (const call of [
    () => sys.mount(null, '/x', null, 0),
    () => sys.umount2('/x'),
    () => sys.mknod('/x', sys.S_IF.CHR, 0, 0),
    () => sys.lgetxattr('/', 'user.x'),
    () => sys.lsetxattr('/', 'user.x', 'y'),
    () => sys.llistxattr('/'),
  ]) {
    assert.throws(call, (err) => {
      assert.ok(err instanceof BuilderError);
      assert.equal(err.code, 'EPRECONDITION');
      assert.match(err.hint ?? '', /npm run build:native/);
      return true;
    });
  }
  // Reading the mount table needs no addon.
  assert.ok(sys.readMountInfo().length > 0);
  // Hashing and random names fall back to node:crypto.
  const { createHash } = await import('node:crypto');
  const { createSha256, sha256Hex } = await import('../../../src/digest/sha256.js');
  const want = createHash('sha256').update('grüße').digest('hex');
  assert.equal(sha256Hex('grüße'), want);
  assert.equal(createSha256().update('grü').update(Buffer.from('ße')).digest().toString('hex'), want);
  assert.match(sys.randomHex(6), /^[0-9a-f]{12}$/);
});

test('the addon is found by walking up from this module or the working directory', async () => {
  const { locateAddon } = await import('../../../src/sys/index.js');
  const saved = process.env.STRATA_NATIVE;
  delete process.env.STRATA_NATIVE;
  try {
    const found = locateAddon();
    if (found !== undefined) assert.match(found, /native\/build\/Release\/strata_sys\.node$/);
  } finally {
    process.env.STRATA_NATIVE = saved;
  }
});
