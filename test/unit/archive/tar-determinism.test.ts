// Same tree → same bytes; SOURCE_DATE_EPOCH clamps mtimes; gzip output does not depend on how
// the input was chunked.

import assert from 'node:assert/strict';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { compressLayer } from '../../../src/archive/layer-stream.js';
import { packDirectoryToTar } from '../../../src/archive/pack-directory.js';
import { tarStream } from '../../../src/archive/tar-writer.js';
import { bytesOf, collect, readBack, withTempDir } from '../../helpers/make-tar.js';

async function makeTree(root: string, mtime: number): Promise<void> {
  await mkdir(join(root, 'app', 'lib'), { recursive: true });
  await writeFile(join(root, 'app', 'main.js'), 'console.log(1)\n');
  await writeFile(join(root, 'app', 'lib', 'x.js'), 'x'.repeat(5000));
  await writeFile(join(root, `app/${'n'.repeat(150)}`), 'long');
  for (const p of ['app/lib/x.js', 'app/main.js', `app/${'n'.repeat(150)}`, 'app/lib', 'app']) {
    await utimes(join(root, p), mtime, mtime);
  }
}

const sink = () =>
  new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });

test('the same tree packed twice (in two places) gives identical bytes', async () => {
  await withTempDir(async (dir) => {
    await makeTree(join(dir, 'one'), 1_650_000_000);
    await makeTree(join(dir, 'two'), 1_650_000_000);
    const a = await collect(packDirectoryToTar(join(dir, 'one')));
    const b = await collect(packDirectoryToTar(join(dir, 'two')));
    assert.ok(a.equals(b));
  });
});

test('sourceDateEpoch clamps later mtimes and keeps earlier ones', async () => {
  await withTempDir(async (dir) => {
    await makeTree(join(dir, 'new'), 1_900_000_000);
    await makeTree(join(dir, 'clamped'), 1_700_000_000);
    await utimes(join(dir, 'new', 'app', 'main.js'), 1_000_000_000, 1_000_000_000);
    await utimes(join(dir, 'clamped', 'app', 'main.js'), 1_000_000_000, 1_000_000_000);
    const epoch = 1_700_000_000;
    const a = await collect(packDirectoryToTar(join(dir, 'new'), { sourceDateEpoch: epoch }));
    const b = await collect(packDirectoryToTar(join(dir, 'clamped'), { sourceDateEpoch: epoch }));
    assert.ok(a.equals(b), 'trees differing only in mtimes after the epoch give the same bytes');
    const back = await readBack(a);
    assert.deepEqual(
      back.map((e) => [e.path.slice(0, 20), e.mtime]),
      [
        ['app/', epoch],
        ['app/lib/', epoch],
        ['app/lib/x.js', epoch],
        ['app/main.js', 1_000_000_000],
        ['app/nnnnnnnnnnnnnnnn', epoch],
      ],
    );
    // Fractional mtimes clamp too, and a clamped value is whole: no PAX mtime record.
    const frac = await readBack(
      await collect(
        tarStream([{ path: 'f', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: epoch + 0.5 }], {
          sourceDateEpoch: epoch,
        }),
      ),
    );
    assert.equal(frac[0]?.mtime, epoch);
    assert.equal(frac[0]?.pax.size, 0);
  });
});

test('gzip output does not depend on input chunking; levels differ', async () => {
  await withTempDir(async (dir) => {
    await makeTree(dir, 1_650_000_000);
    const tar = await collect(packDirectoryToTar(dir));
    const results = [];
    for (const chunk of [1, 100, 4096, 1 << 20]) {
      const parts: Buffer[] = [];
      const out = new Writable({
        write(c, _e, cb) {
          parts.push(c);
          cb();
        },
      });
      const r = await compressLayer(bytesOf(tar, chunk), out);
      results.push({ ...r, bytes: Buffer.concat(parts) });
    }
    for (const r of results) {
      assert.equal(r.digest, results[0]?.digest);
      assert.ok(r.bytes.equals(results[0]!.bytes));
    }
    const fast = await compressLayer(bytesOf(tar), sink(), { level: 1 });
    assert.equal(fast.diffId, results[0]?.diffId);
    assert.notEqual(fast.digest, results[0]?.digest);
  });
});
