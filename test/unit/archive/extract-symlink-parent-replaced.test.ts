// Attack: directories are created early and given their metadata at the end. If a later entry
// replaces a parent with a symlink to the host, the deferred chmod/chown/utimes must not follow
// it, and later entries under that name must not either.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractLayer } from '../../../src/archive/extract.js';
import { bytesOf, makeTar, withTempDir } from '../../helpers/make-tar.js';

test('deferred directory metadata is not applied through a replaced parent', async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    const outside = join(dir, 'outside');
    await mkdir(root);
    await mkdir(join(outside, 'b'), { recursive: true, mode: 0o755 });
    await utimes(join(outside, 'b'), 1_000_000_000, 1_000_000_000);
    const tar = makeTar([
      { path: 'a/', mode: 0o755 },
      { path: 'a/b/', mode: 0o777, uid: 4242, gid: 4242, mtime: 1_234_567_890 },
      { path: 'a', type: 'symlink', linkname: outside },
      { path: 'a/c', body: 'pwned' },
    ]);
    await extractLayer(bytesOf(tar), root);
    const b = await lstat(join(outside, 'b'));
    assert.equal(b.mode & 0o7777, 0o755);
    assert.equal(b.uid, process.getuid?.() ?? b.uid);
    assert.equal(b.mtimeMs, 1_000_000_000_000);
    assert.ok(!existsSync(join(outside, 'c')));
    assert.ok((await lstat(join(root, 'a'))).isSymbolicLink());
    assert.ok(existsSync(join(root, outside, 'c')));
  });
});

test('a directory replaced by a file is left alone at the end', async () => {
  await withTempDir(async (root) => {
    await extractLayer(
      bytesOf(
        makeTar([
          { path: 'd/', mode: 0o700 },
          { path: 'd', body: 'now a file', mode: 0o640 },
        ]),
      ),
      root,
    );
    const st = await lstat(join(root, 'd'));
    assert.ok(st.isFile());
    assert.equal(st.mode & 0o7777, 0o640);
  });
});

test('a parent replaced by a symlink mid-layer is resolved afresh for later entries', async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    const outside = join(dir, 'outside');
    await mkdir(root);
    await mkdir(outside);
    // lower layer: lib/ with content
    await extractLayer(bytesOf(makeTar([{ path: 'lib/one', body: '1' }])), root);
    const tar = makeTar([
      { path: 'lib/two', body: '2' }, // resolves (and remembers) lib/
      { path: 'lib', type: 'symlink', linkname: outside }, // replaces the directory
      { path: 'lib/three', body: 'pwned' },
      { path: 'lib/sub/four', body: 'pwned' },
    ]);
    await extractLayer(bytesOf(tar), root);
    assert.ok(!existsSync(join(outside, 'three')));
    assert.ok(!existsSync(join(outside, 'sub')));
    assert.ok(existsSync(join(root, outside, 'three')));
    assert.ok(existsSync(join(root, outside, 'sub', 'four')));
  });
});
