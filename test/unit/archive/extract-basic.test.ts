// Extraction of ordinary content: modes, owners, times, links, implicit parents, privileges.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { DeviceNode } from '../../../src/archive/extract.js';
import { extractLayer } from '../../../src/archive/extract.js';
import { packDirectoryToTar } from '../../../src/archive/pack-directory.js';
import { bytesOf, collect, makeTar, readBack, withTempDir } from '../../helpers/make-tar.js';

const isRoot = process.getuid?.() === 0;
const T = 1_600_000_000;

describe('extractLayer', () => {
  test('files, dirs, symlinks and hardlinks with exact modes, owners and mtimes', {
    skip: !isRoot && 'needs root',
  }, async () => {
    await withTempDir(async (root) => {
      const tar = makeTar([
        { path: 'usr/', mode: 0o755, mtime: T },
        { path: 'usr/bin/', mode: 0o555, uid: 2, gid: 3, mtime: T + 1 },
        { path: 'usr/bin/su', body: 'ELF', mode: 0o4755, uid: 0, gid: 0, mtime: T + 2 },
        { path: 'usr/bin/wall', body: 'ELF', mode: 0o2755, uid: 0, gid: 5, mtime: T + 3 },
        { path: 'tmp/', mode: 0o1777, mtime: T + 4 },
        { path: 'home/u/.profile', body: 'x', mode: 0o600, uid: 1000, gid: 1000, mtime: T + 5.5 },
        { path: 'home/u/empty', mode: 0o640, mtime: T + 6 },
        { path: 'usr/bin/sh', type: 'symlink', linkname: 'busybox', uid: 7, gid: 8, mtime: T + 7 },
        { path: 'usr/bin/sudo', type: 'hardlink', linkname: 'usr/bin/su' },
      ]);
      const result = await extractLayer(bytesOf(tar, 700), root);
      assert.equal(result.entries, 9);
      assert.equal(result.bytes, 7);
      assert.deepEqual(result.warnings, []);
      const st = async (p: string) => lstat(join(root, p));
      const check = async (p: string, mode: number, uid: number, gid: number, mtime: number) => {
        const s = await st(p);
        assert.equal(s.mode & 0o7777, mode, `${p} mode`);
        assert.deepEqual([s.uid, s.gid], [uid, gid], `${p} owner`);
        assert.equal(s.mtimeMs, mtime * 1000, `${p} mtime`);
      };
      await check('usr', 0o755, 0, 0, T);
      await check('usr/bin', 0o555, 2, 3, T + 1);
      await check('usr/bin/su', 0o4755, 0, 0, T + 2);
      await check('usr/bin/wall', 0o2755, 0, 5, T + 3);
      await check('tmp', 0o1777, 0, 0, T + 4);
      await check('home/u/.profile', 0o600, 1000, 1000, T + 5.5);
      await check('home/u/empty', 0o640, 0, 0, T + 6);
      const sh = await st('usr/bin/sh');
      assert.ok(sh.isSymbolicLink());
      assert.deepEqual([sh.uid, sh.gid, sh.mtimeMs], [7, 8, (T + 7) * 1000]);
      assert.equal(await readlink(join(root, 'usr/bin/sh')), 'busybox');
      assert.equal((await st('usr/bin/sudo')).ino, (await st('usr/bin/su')).ino);
      // Implicit parents: 0755, owned by the extractor.
      const home = await st('home');
      assert.equal(home.mode & 0o7777, 0o755);
      assert.equal(await readFile(join(root, 'home/u/.profile'), 'utf8'), 'x');
    });
  });

  test('directory mtimes survive the creation of their contents (applied last)', async () => {
    await withTempDir(async (root) => {
      await extractLayer(
        bytesOf(
          makeTar([
            { path: 'd/', mtime: T },
            { path: 'd/a', body: 'a' },
            { path: 'd/sub/b', body: 'b' },
          ]),
        ),
        root,
      );
      assert.equal((await lstat(join(root, 'd'))).mtimeMs, T * 1000);
    });
  });

  test('directory metadata later in the archive wins; existing directories merge', async () => {
    await withTempDir(async (root) => {
      await extractLayer(
        bytesOf(
          makeTar([
            { path: 'd/', mode: 0o700 },
            { path: 'd/old', body: 'o' },
          ]),
        ),
        root,
      );
      await extractLayer(
        bytesOf(
          makeTar([
            { path: 'd/', mode: 0o750 },
            { path: 'd/new', body: 'n' },
            { path: 'd/', mode: 0o711 },
          ]),
        ),
        root,
      );
      assert.equal((await lstat(join(root, 'd'))).mode & 0o7777, 0o711);
      assert.ok(existsSync(join(root, 'd', 'old')) && existsSync(join(root, 'd', 'new')));
    });
  });

  test('unprivileged: no chown, setuid/setgid dropped, devices skipped with warnings', async () => {
    await withTempDir(async (root) => {
      let made = 0;
      const result = await extractLayer(
        bytesOf(
          makeTar([
            { path: 'su', body: 'x', mode: 0o6755, uid: 1234 },
            { path: 'null', type: 'char', devmajor: 1, devminor: 3 },
          ]),
        ),
        root,
        { privileged: false, makeDevice: async () => void made++ },
      );
      const su = await lstat(join(root, 'su'));
      assert.equal(su.mode & 0o7777, 0o755);
      assert.equal(su.uid, process.getuid?.());
      assert.equal(made, 0);
      assert.deepEqual(
        result.warnings.map((w) => [w.code, w.path]),
        [['device-skipped', 'null']],
      );
    });
  });

  test('devices and FIFOs without makeDevice are skipped with warnings (Node cannot mknod)', async () => {
    await withTempDir(async (root) => {
      const result = await extractLayer(
        bytesOf(
          makeTar([
            { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
            { path: 'p', type: 'fifo' },
            { path: 'after', body: 'a' },
          ]),
        ),
        root,
        { privileged: isRoot },
      );
      assert.deepEqual(
        result.warnings.map((w) => w.code),
        ['device-skipped', 'device-skipped'],
      );
      if (isRoot) assert.match(result.warnings[0]?.message ?? '', /cannot mknod/);
      assert.ok(!existsSync(join(root, 'dev', 'null')));
      assert.ok(existsSync(join(root, 'after')));
    });
  });

  test('makeDevice is called with the node to make (a mknod-based one, tests only)', {
    skip: !isRoot && 'needs root',
  }, async () => {
    await withTempDir(async (root) => {
      const calls: DeviceNode[] = [];
      const makeDevice = async (path: string, node: DeviceNode) => {
        calls.push(node);
        const kind = node.type === 'char' ? 'c' : node.type === 'block' ? 'b' : 'p';
        execFileSync(
          'mknod',
          node.type === 'fifo' ? [path, kind] : [path, kind, String(node.devmajor), String(node.devminor)],
        );
      };
      await extractLayer(
        bytesOf(
          makeTar([
            { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666, mtime: T },
            { path: 'dev/loop0', type: 'block', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
            { path: 'run/initctl', type: 'fifo', mode: 0o600 },
          ]),
        ),
        root,
        { makeDevice },
      );
      assert.deepEqual(
        calls.map((c) => c.type),
        ['char', 'block', 'fifo'],
      );
      const nul = await lstat(join(root, 'dev/null'));
      assert.ok(nul.isCharacterDevice());
      assert.equal(nul.mode & 0o7777, 0o666);
      assert.equal(nul.mtimeMs, T * 1000);
      assert.equal((await lstat(join(root, 'dev/loop0'))).gid, 6);
      assert.ok((await lstat(join(root, 'run/initctl'))).isFIFO());
    });
  });

  test('xattrs go to setXattr, or are reported as skipped', async () => {
    await withTempDir(async (root) => {
      const tar = makeTar([
        { path: 'ping', body: 'x', xattrs: { 'security.capability': Buffer.from([1, 2]) } },
      ]);
      const skipped = await extractLayer(bytesOf(tar), root);
      assert.deepEqual(
        skipped.warnings.map((w) => w.code),
        ['xattr-skipped'],
      );
      const seen: Array<[string, string, number[]]> = [];
      await extractLayer(bytesOf(tar), root, { setXattr: async (p, n, v) => void seen.push([p, n, [...v]]) });
      assert.deepEqual(seen, [[join(root, 'ping'), 'security.capability', [1, 2]]]);
    });
  });

  test('a file where a directory was (and vice versa) replaces it', async () => {
    await withTempDir(async (root) => {
      await extractLayer(
        bytesOf(
          makeTar([
            { path: 'x/', mode: 0o755 },
            { path: 'x/inner', body: 'i' },
            { path: 'y', body: 'y' },
          ]),
        ),
        root,
      );
      await extractLayer(
        bytesOf(
          makeTar([
            { path: 'x', body: 'file now' },
            { path: 'y/', mode: 0o755 },
          ]),
        ),
        root,
      );
      assert.ok((await lstat(join(root, 'x'))).isFile());
      assert.ok((await lstat(join(root, 'y'))).isDirectory());
    });
  });

  test('a file under a non-directory is EINVAL', async () => {
    await withTempDir(async (root) => {
      await assert.rejects(
        extractLayer(
          bytesOf(
            makeTar([
              { path: 'f', body: 'f' },
              { path: 'f/g', body: 'g' },
            ]),
          ),
          root,
        ),
        /not a directory/,
      );
    });
  });

  test('the target must exist', async () => {
    await withTempDir(async (dir) => {
      await assert.rejects(extractLayer(bytesOf(makeTar([])), join(dir, 'nope')), /not a directory/);
    });
  });

  test('pack → extract → pack gives the same archive', { skip: !isRoot && 'needs root' }, async () => {
    await withTempDir(async (dir) => {
      const first = join(dir, 'first');
      const second = join(dir, 'second');
      await mkdir(first);
      await mkdir(second);
      const tar = makeTar([
        { path: 'a/', mode: 0o750, uid: 5, gid: 6, mtime: T },
        { path: 'a/f', body: 'content', mode: 0o4711, uid: 7, gid: 8, mtime: T + 1 },
        { path: 'a/l', type: 'symlink', linkname: 'f', mtime: T + 2 },
        { path: 'a/h', type: 'hardlink', linkname: 'a/f' },
        { path: 'b/', mode: 0o700, mtime: T + 3 },
      ]);
      await extractLayer(bytesOf(tar), first);
      const packed = await collect(packDirectoryToTar(first));
      await extractLayer(bytesOf(packed), second);
      const again = await collect(packDirectoryToTar(second));
      assert.ok(packed.equals(again));
      const back = await readBack(packed);
      assert.deepEqual(
        back.map((e) => [e.path, e.type, e.mode, e.uid, e.gid, e.mtime, e.linkname]),
        [
          ['a/', 'dir', 0o750, 5, 6, T, ''],
          ['a/f', 'file', 0o4711, 7, 8, T + 1, ''],
          ['a/h', 'hardlink', 0o4711, 7, 8, T + 1, 'a/f'],
          ['a/l', 'symlink', 0o777, 0, 0, T + 2, 'f'],
          ['b/', 'dir', 0o700, 0, 0, T + 3, ''],
        ],
      );
    });
  });
});
