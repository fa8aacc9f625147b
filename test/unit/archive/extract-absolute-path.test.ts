// Attack: absolute entry names aimed at a real path on the host. The leading "/" is stripped
// (with a warning), so the entry lands under the root at that path instead.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractLayer } from '../../../src/archive/extract.js';
import { bytesOf, makeTar, withTempDir } from '../../helpers/make-tar.js';

test('an absolute name lands under the root, never at the host path', async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    await mkdir(root);
    const hostPath = join(dir, 'outside', 'pwned');
    const result = await extractLayer(
      bytesOf(
        makeTar([
          { path: hostPath, body: 'pwned' },
          { path: '//etc//x', body: 'x' },
        ]),
      ),
      root,
    );
    assert.ok(!existsSync(hostPath));
    assert.equal(await readFile(join(root, hostPath), 'utf8'), 'pwned');
    assert.equal(await readFile(join(root, 'etc', 'x'), 'utf8'), 'x');
    assert.deepEqual(
      result.warnings.map((w) => w.code),
      ['absolute-path', 'absolute-path'],
    );
  });
});

test('absolute symlink targets are stored verbatim (and never followed while extracting)', async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    await mkdir(root);
    await extractLayer(
      bytesOf(makeTar([{ path: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' }])),
      root,
    );
    assert.equal(await readlink(join(root, 'bin', 'sh')), '/bin/busybox');
  });
});

test('the root entry ("./" or "/") is ignored', async () => {
  await withTempDir(async (root) => {
    const result = await extractLayer(
      bytesOf(makeTar([{ path: './', mode: 0o700 }, { path: '/', mode: 0o700 }, { path: 'f' }])),
      root,
    );
    assert.equal(result.entries, 3);
    assert.ok(existsSync(join(root, 'f')));
  });
});
