// Attack: a hardlink to a symlink that points at a host file, hoping the link is made to the
// file the symlink names. link(2) does not dereference: the result is one more symlink.

import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractLayer } from '../../../src/archive/extract.js';
import { bytesOf, makeTar, withTempDir } from '../../helpers/make-tar.js';

test('the hardlink is to the symlink itself; the host file is neither linked nor written', async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    await mkdir(root);
    const secret = join(dir, 'secret');
    await writeFile(secret, 'secret');
    await extractLayer(
      bytesOf(
        makeTar([
          { path: 's', type: 'symlink', linkname: secret },
          { path: 'h', type: 'hardlink', linkname: 's' },
        ]),
      ),
      root,
    );
    const h = await lstat(join(root, 'h'));
    assert.ok(h.isSymbolicLink());
    assert.equal(h.ino, (await lstat(join(root, 's'))).ino);
    assert.equal(await readlink(join(root, 'h')), secret);
    assert.equal((await lstat(secret)).nlink, 1);
    await extractLayer(bytesOf(makeTar([{ path: 'h', body: 'pwned' }])), root);
    assert.equal(await readFile(secret, 'utf8'), 'secret');
  });
});
