// Attack: entry names with ".." that climb out of the extraction root, in the header name, in
// a PAX path record, or in a GNU long name.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractLayer } from '../../../src/archive/extract.js';
import { isBuilderError } from '../../../src/errors.js';
import { bytesOf, gnuLongEntry, makeTar, paxEntry, rawEntry, withTempDir } from '../../helpers/make-tar.js';

const isEinval = (e: unknown) => isBuilderError(e) && e.code === 'EINVAL';

for (const name of ['../escaped', 'a/../../escaped', './../escaped', 'a/b/../../../escaped', '..']) {
  test(`header name ${JSON.stringify(name)} is refused and nothing lands outside`, async () => {
    await withTempDir(async (dir) => {
      const root = join(dir, 'root');
      await mkdir(root);
      await assert.rejects(extractLayer(bytesOf(makeTar([{ path: name, body: 'pwned' }])), root), isEinval);
      assert.ok(!existsSync(join(dir, 'escaped')));
    });
  });
}

test('a PAX path with ".." is refused even when the header name looks harmless', async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    await mkdir(root);
    const tar = makeTar([
      paxEntry([['path', '../escaped']]),
      rawEntry({ name: 'harmless' }, Buffer.from('pwned')),
    ]);
    await assert.rejects(extractLayer(bytesOf(tar), root), isEinval);
    assert.ok(!existsSync(join(dir, 'escaped')));
    assert.ok(!existsSync(join(root, 'harmless')));
  });
});

test('a GNU long name with ".." is refused', async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    await mkdir(root);
    const tar = makeTar([
      gnuLongEntry('L', `../${'x'.repeat(120)}`),
      rawEntry({ name: 'harmless' }, Buffer.from('pwned')),
    ]);
    await assert.rejects(extractLayer(bytesOf(tar), root), isEinval);
    assert.ok(!existsSync(join(dir, 'x'.repeat(120))));
  });
});

test('".." that stays inside is resolved lexically ("a/../b" is "b")', async () => {
  await withTempDir(async (root) => {
    await extractLayer(bytesOf(makeTar([{ path: 'a/../b', body: 'ok' }])), root);
    assert.equal(await readFile(join(root, 'b'), 'utf8'), 'ok');
  });
});
