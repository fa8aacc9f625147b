import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, link, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ArchiveWarning } from '../../../src/archive/archive-warning.js';
import { packDirectory, packDirectoryToTar, splitRdev } from '../../../src/archive/pack-directory.js';
import { isBuilderError } from '../../../src/errors.js';
import { collect, readBack, withTempDir } from '../../helpers/make-tar.js';

const isRoot = process.getuid?.() === 0;

async function tree(root: string): Promise<void> {
  await mkdir(join(root, 'b', 'c'), { recursive: true });
  await mkdir(join(root, 'a'));
  await writeFile(join(root, 'a', 'z'), 'z');
  await writeFile(join(root, 'a-b'), 'dash');
  await writeFile(join(root, 'B'), 'upper');
  await writeFile(join(root, 'b', 'c', 'deep'), 'deep');
  await writeFile(join(root, '\u00e9'), 'e-acute');
  await writeFile(join(root, 'b', 'file'), 'one');
  await link(join(root, 'b', 'file'), join(root, 'a', 'hard'));
  await link(join(root, 'b', 'file'), join(root, 'zz-hard'));
  await symlink('../b/file', join(root, 'a', 'sym'));
  await chmod(join(root, 'a'), 0o750);
  await chmod(join(root, 'b', 'file'), 0o4711);
  for (const p of ['a', 'a/z', 'a-b', 'B', 'b', 'b/c', 'b/c/deep', '\u00e9', 'b/file']) {
    await utimes(join(root, p), 1_650_000_000, 1_650_000_000.75);
  }
}

describe('packDirectory', () => {
  test('depth-first, siblings in byte order, directory before its contents', async () => {
    await withTempDir(async (root) => {
      await tree(root);
      const paths: string[] = [];
      for await (const e of packDirectory(root)) paths.push(e.path);
      assert.deepEqual(paths, [
        'B',
        'a',
        'a/hard',
        'a/sym',
        'a/z',
        'a-b',
        'b',
        'b/c',
        'b/c/deep',
        'b/file',
        'zz-hard',
        '\u00e9',
      ]);
    });
  });

  test('modes, ids, whole-second mtimes; hardlinks point at the first path of the inode', async () => {
    await withTempDir(async (root) => {
      await tree(root);
      if (isRoot) await chown(join(root, 'a-b'), 1234, 5678);
      const back = await readBack(await collect(packDirectoryToTar(root)));
      const by = new Map(back.map((e) => [e.path, e]));
      assert.equal(by.get('a/')?.type, 'dir');
      assert.equal(by.get('a/')?.mode, 0o750);
      // 'a/hard' is met before 'b/file' in the walk, so it carries the content.
      assert.equal(by.get('a/hard')?.type, 'file');
      assert.equal(by.get('a/hard')?.content.toString(), 'one');
      assert.equal(by.get('a/hard')?.mode, 0o4711);
      assert.deepEqual([by.get('b/file')?.type, by.get('b/file')?.linkname], ['hardlink', 'a/hard']);
      assert.deepEqual([by.get('zz-hard')?.type, by.get('zz-hard')?.linkname], ['hardlink', 'a/hard']);
      assert.deepEqual([by.get('a/sym')?.type, by.get('a/sym')?.linkname], ['symlink', '../b/file']);
      assert.equal(by.get('b/c/deep')?.mtime, 1_650_000_000);
      assert.equal(by.get('\u00e9')?.content.toString(), 'e-acute');
      if (isRoot) assert.deepEqual([by.get('a-b')?.uid, by.get('a-b')?.gid], [1234, 5678]);
      assert.equal(by.get('a-b')?.uname, '');
    });
  });

  test('subSecondMtime keeps microseconds (a PAX mtime record)', async () => {
    await withTempDir(async (root) => {
      await writeFile(join(root, 'f'), 'x');
      await utimes(join(root, 'f'), 1, 1_650_000_000.123456);
      const [e] = await readBack(await collect(packDirectoryToTar(root, { subSecondMtime: true })));
      assert.equal(e?.mtime, 1_650_000_000.123456);
      assert.equal(e?.pax.get('mtime')?.toString(), '1650000000.123456');
    });
  });

  test('prefix: only that subtree, with its parent directories', async () => {
    await withTempDir(async (root) => {
      await tree(root);
      const paths: string[] = [];
      for await (const e of packDirectory(root, { prefix: 'b/c' })) paths.push(e.path);
      assert.deepEqual(paths, ['b', 'b/c', 'b/c/deep']);
      await assert.rejects(
        async () => {
          for await (const _ of packDirectory(root, { prefix: 'nope' })) {
          }
        },
        (e) => isBuilderError(e) && e.code === 'ENOTFOUND',
      );
      await assert.rejects(
        async () => {
          for await (const _ of packDirectory(root, { prefix: '../etc' })) {
          }
        },
        (e) => isBuilderError(e) && e.code === 'EINVAL',
      );
    });
  });

  test('filter leaves out entries and whole subtrees', async () => {
    await withTempDir(async (root) => {
      await tree(root);
      const paths: string[] = [];
      for await (const e of packDirectory(root, { filter: (p) => p !== 'b' && p !== 'a/z' }))
        paths.push(e.path);
      assert.deepEqual(paths, ['B', 'a', 'a/hard', 'a/sym', 'a-b', 'zz-hard', '\u00e9']);
    });
  });

  test('readXattrs is the only source of xattrs (Node cannot read them)', async () => {
    await withTempDir(async (root) => {
      await writeFile(join(root, 'f'), 'x');
      const plain = await readBack(await collect(packDirectoryToTar(root)));
      assert.deepEqual(plain[0]?.xattrs, {});
      const withHook = await readBack(
        await collect(
          packDirectoryToTar(root, { readXattrs: async () => ({ 'security.capability': Buffer.from([9]) }) }),
        ),
      );
      assert.deepEqual([...(withHook[0]?.xattrs['security.capability'] ?? [])], [9]);
    });
  });

  test('devices and FIFOs are packed; sockets are skipped with a warning', {
    skip: !isRoot && 'mknod needs root',
  }, async () => {
    await withTempDir(async (root) => {
      execFileSync('mknod', [join(root, 'tty'), 'c', '5', '0']);
      execFileSync('mknod', [join(root, 'disk'), 'b', '259', '65537']);
      execFileSync('mknod', [join(root, 'fifo'), 'p']);
      const server = createServer();
      await new Promise<void>((r) => server.listen(join(root, 'sock'), r));
      try {
        const warnings: ArchiveWarning[] = [];
        const back = await readBack(
          await collect(packDirectoryToTar(root, { onWarning: (w) => warnings.push(w) })),
        );
        assert.deepEqual(
          back.map((e) => [e.path, e.type, e.devmajor, e.devminor]),
          [
            ['disk', 'block', 259, 65537],
            ['fifo', 'fifo', 0, 0],
            ['tty', 'char', 5, 0],
          ],
        );
        assert.deepEqual(
          warnings.map((w) => [w.code, w.path]),
          [['socket-skipped', 'sock']],
        );
      } finally {
        server.close();
      }
    });
  });

  test('splitRdev follows glibc (large minor numbers)', () => {
    // makedev(259, 1048577) = ((minor & 0xfffff00) << 12) | ((major & 0xfff) << 8) | (minor & 0xff) | ...
    const major = 259n;
    const minor = 1_048_577n;
    const rdev =
      ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
    assert.deepEqual(splitRdev(rdev), { devmajor: 259, devminor: 1_048_577 });
  });
});
