// Attack: a hardlink entry whose target is a host file, by "..", by absolute path, or through a
// symlinked parent. Link targets must resolve to an existing non-directory inside the root.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractLayer } from '../../../src/archive/extract.js';
import { isBuilderError } from '../../../src/errors.js';
import { bytesOf, makeTar, type TarSpec, withTempDir } from '../../helpers/make-tar.js';

const isEinval = (e: unknown) => isBuilderError(e) && e.code === 'EINVAL';

async function setup(dir: string) {
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  await mkdir(root);
  await mkdir(outside);
  const secret = join(outside, 'secret');
  await writeFile(secret, 'secret');
  return { root, outside, secret };
}

test('hardlink targets outside the root are refused, and the host file gains no link', async () => {
  await withTempDir(async (dir) => {
    const { root, outside, secret } = await setup(dir);
    const attempts: TarSpec[][] = [
      [{ path: 'h', type: 'hardlink', linkname: '../outside/secret' }],
      [{ path: 'h', type: 'hardlink', linkname: 'a/../../outside/secret' }],
      // absolute: the "/" is stripped, so it names <root>/<secret>, which does not exist
      [{ path: 'h', type: 'hardlink', linkname: secret }],
      // through a symlinked parent: resolved inside the root, where there is no such file
      [
        { path: 'evil', type: 'symlink', linkname: outside },
        { path: 'h', type: 'hardlink', linkname: 'evil/secret' },
      ],
      [
        { path: 'up', type: 'symlink', linkname: '..' },
        { path: 'h', type: 'hardlink', linkname: 'up/outside/secret' },
      ],
    ];
    for (const entries of attempts) {
      await assert.rejects(extractLayer(bytesOf(makeTar(entries)), root), isEinval, JSON.stringify(entries));
      assert.equal((await lstat(secret)).nlink, 1);
    }
  });
});

test('hardlinks to directories and to the root are refused', async () => {
  await withTempDir(async (dir) => {
    const { root } = await setup(dir);
    await assert.rejects(
      extractLayer(bytesOf(makeTar([{ path: 'd/' }, { path: 'h', type: 'hardlink', linkname: 'd' }])), root),
      isEinval,
    );
    await assert.rejects(
      extractLayer(bytesOf(makeTar([{ path: 'h', type: 'hardlink', linkname: './' }])), root),
      isEinval,
    );
    assert.ok(!existsSync(join(root, 'h')));
  });
});
