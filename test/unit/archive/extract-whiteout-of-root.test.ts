// Attack: whiteout names that would delete the root or its parent (".wh..", ".wh...") and
// whiteouts aimed at the host through a symlinked parent.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractLayer } from '../../../src/archive/extract.js';
import { isBuilderError } from '../../../src/errors.js';
import { bytesOf, makeTar, withTempDir } from '../../helpers/make-tar.js';

for (const name of ['.wh..', '.wh...', './.wh..', 'sub/.wh..', 'sub/.wh...', '.wh.']) {
  test(`whiteout ${JSON.stringify(name)} is refused and the tree survives`, async () => {
    await withTempDir(async (dir) => {
      const root = join(dir, 'root');
      await mkdir(join(root, 'sub'), { recursive: true });
      await writeFile(join(root, 'keep'), 'k');
      await writeFile(join(dir, 'sibling'), 's');
      await assert.rejects(
        extractLayer(bytesOf(makeTar([{ path: name }])), root),
        (e) => isBuilderError(e) && e.code === 'EINVAL',
      );
      assert.ok(existsSync(join(root, 'keep')));
      assert.ok(existsSync(join(root, 'sub')));
      assert.ok(existsSync(join(dir, 'sibling')));
    });
  });
}

test('an opaque marker at the top empties the root of lower entries but keeps the root', async () => {
  await withTempDir(async (root) => {
    await writeFile(join(root, 'lower'), 'l');
    await extractLayer(bytesOf(makeTar([{ path: '.wh..wh..opq' }, { path: 'upper', body: 'u' }])), root);
    assert.deepEqual(await readdir(root), ['upper']);
  });
});

test('whiteouts through a symlinked parent stay inside the root', async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    const outside = join(dir, 'outside');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), 'v');
    await writeFile(join(outside, 'other'), 'o');
    await extractLayer(bytesOf(makeTar([{ path: 'link', type: 'symlink', linkname: outside }])), root);
    await extractLayer(bytesOf(makeTar([{ path: 'link/.wh.victim' }, { path: 'link/.wh..wh..opq' }])), root);
    await extractLayer(
      bytesOf(makeTar([{ path: 'up', type: 'symlink', linkname: '../..' }, { path: 'up/.wh.outside' }])),
      root,
    );
    assert.ok(existsSync(join(outside, 'victim')));
    assert.ok(existsSync(join(outside, 'other')));
  });
});
