// Attack: a hardlink entry aliases a file, then a file entry of the same name tries to
// overwrite the aliased file through the link.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractLayer } from '../../../src/archive/extract.js';
import { bytesOf, makeTar, withTempDir } from '../../helpers/make-tar.js';

test('a later file entry replaces the hardlink instead of writing into the shared inode', async () => {
  await withTempDir(async (root) => {
    await extractLayer(
      bytesOf(
        makeTar([
          { path: 'etc/shadow', body: 'root:*:', mode: 0o600 },
          { path: 'alias', type: 'hardlink', linkname: 'etc/shadow' },
          { path: 'alias', body: 'root::0:' },
        ]),
      ),
      root,
    );
    assert.equal(await readFile(join(root, 'etc', 'shadow'), 'utf8'), 'root:*:');
    assert.equal(await readFile(join(root, 'alias'), 'utf8'), 'root::0:');
  });
});

test('the same across layers', async () => {
  await withTempDir(async (root) => {
    await extractLayer(
      bytesOf(
        makeTar([
          { path: 'etc/shadow', body: 'root:*:' },
          { path: 'alias', type: 'hardlink', linkname: 'etc/shadow' },
        ]),
      ),
      root,
    );
    await extractLayer(bytesOf(makeTar([{ path: 'alias', body: 'root::0:' }])), root);
    assert.equal(await readFile(join(root, 'etc', 'shadow'), 'utf8'), 'root:*:');
  });
});
