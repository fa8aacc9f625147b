// Attack: the last component of an entry is an existing symlink to a host file; writing the
// entry must replace the symlink, not write through it.

import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractLayer } from '../../../src/archive/extract.js';
import { bytesOf, makeTar, withTempDir } from '../../helpers/make-tar.js';

test('file, dir, symlink and hardlink entries replace a planted symlink', async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    await mkdir(root);
    const victim = join(dir, 'victim');
    await writeFile(victim, 'original');
    const names = ['as-file', 'as-dir', 'as-symlink', 'as-hardlink'];
    await extractLayer(
      bytesOf(makeTar(names.map((n) => ({ path: n, type: 'symlink' as const, linkname: victim })))),
      root,
    );
    await extractLayer(
      bytesOf(
        makeTar([
          { path: 'real', body: 'real' },
          { path: 'as-file', body: 'pwned', mode: 0o777 },
          { path: 'as-dir/', mode: 0o777 },
          { path: 'as-symlink', type: 'symlink', linkname: 'real' },
          { path: 'as-hardlink', type: 'hardlink', linkname: 'real' },
        ]),
      ),
      root,
    );
    assert.equal(await readFile(victim, 'utf8'), 'original');
    assert.equal((await lstat(victim)).mode & 0o777, 0o644);
    assert.ok((await lstat(join(root, 'as-file'))).isFile());
    assert.equal(await readFile(join(root, 'as-file'), 'utf8'), 'pwned');
    assert.ok((await lstat(join(root, 'as-dir'))).isDirectory());
    assert.equal(await readlink(join(root, 'as-symlink')), 'real');
    assert.equal((await lstat(join(root, 'as-hardlink'))).ino, (await lstat(join(root, 'real'))).ino);
  });
});
