// Attack: an entry plants a symlink pointing outside, a later entry writes "through" it.
// Parents are resolved inside the root (chroot semantics), or refused on request.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractLayer } from '../../../src/archive/extract.js';
import { isBuilderError } from '../../../src/errors.js';
import { bytesOf, makeTar, withTempDir } from '../../helpers/make-tar.js';

async function setup(dir: string): Promise<{ root: string; outside: string }> {
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  await mkdir(root);
  await mkdir(outside);
  return { root, outside };
}

test('absolute symlink to a host directory, then a file through it: lands inside the root', async () => {
  await withTempDir(async (dir) => {
    const { root, outside } = await setup(dir);
    const tar = makeTar([
      { path: 'evil', type: 'symlink', linkname: outside },
      { path: 'evil/pwned', body: 'pwned' },
      { path: 'evil/sub/deeper', body: 'pwned' },
    ]);
    await extractLayer(bytesOf(tar), root);
    assert.ok(!existsSync(join(outside, 'pwned')));
    assert.ok(!existsSync(join(outside, 'sub')));
    assert.equal(await readFile(join(root, outside, 'pwned'), 'utf8'), 'pwned');
  });
});

test('relative symlink climbing out ("../../..") is clamped at the root', async () => {
  await withTempDir(async (dir) => {
    const { root } = await setup(dir);
    const tar = makeTar([
      { path: 'a/b/', type: 'dir' },
      { path: 'a/b/up', type: 'symlink', linkname: '../../../../../..' },
      { path: 'a/b/up/pwned', body: 'pwned' },
    ]);
    await extractLayer(bytesOf(tar), root);
    assert.ok(!existsSync(join(dir, 'pwned')));
    assert.equal(await readFile(join(root, 'pwned'), 'utf8'), 'pwned');
  });
});

test('a chain of symlinks is followed inside the root; a loop is EINVAL', async () => {
  await withTempDir(async (dir) => {
    const { root, outside } = await setup(dir);
    const chain = makeTar([
      { path: 'one', type: 'symlink', linkname: 'two' },
      { path: 'two', type: 'symlink', linkname: `${outside}/../outside` },
      { path: 'one/pwned', body: 'pwned' },
    ]);
    await extractLayer(bytesOf(chain), root);
    assert.ok(!existsSync(join(outside, 'pwned')));
    assert.ok(existsSync(join(root, outside, 'pwned')));
    const loop = makeTar([
      { path: 'x', type: 'symlink', linkname: 'y' },
      { path: 'y', type: 'symlink', linkname: 'x' },
      { path: 'x/file', body: 'loop' },
    ]);
    await assert.rejects(
      extractLayer(bytesOf(loop), root),
      (e) => isBuilderError(e) && e.code === 'EINVAL' && /symbolic links/.test(e.message),
    );
  });
});

test("symlinkParents: 'reject' refuses any symlink among the parents", async () => {
  await withTempDir(async (dir) => {
    const { root, outside } = await setup(dir);
    const tar = makeTar([
      { path: 'evil', type: 'symlink', linkname: outside },
      { path: 'evil/pwned', body: 'pwned' },
    ]);
    await assert.rejects(
      extractLayer(bytesOf(tar), root, { symlinkParents: 'reject' }),
      (e) => isBuilderError(e) && e.code === 'EINVAL',
    );
    assert.ok(!existsSync(join(outside, 'pwned')));
  });
});

test('a symlink from a LOWER layer is not trusted either', async () => {
  await withTempDir(async (dir) => {
    const { root, outside } = await setup(dir);
    await extractLayer(bytesOf(makeTar([{ path: 'usr/lib', type: 'symlink', linkname: outside }])), root);
    await extractLayer(bytesOf(makeTar([{ path: 'usr/lib/libc.so', body: 'pwned' }])), root);
    assert.ok(!existsSync(join(outside, 'libc.so')));
    assert.ok(existsSync(join(root, outside, 'libc.so')));
  });
});
