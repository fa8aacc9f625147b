// overlayfs upper directory → OCI layer: whiteout devices become ".wh.<name>", opaque
// directories get ".wh..wh..opq". Opacity is an xattr Node cannot read, so it is injected.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { packDirectory, packDirectoryToTar } from '../../../src/archive/pack-directory.js';
import { collect, readBack, withTempDir } from '../../helpers/make-tar.js';

const skip = process.getuid?.() !== 0 && 'mknod needs root';

async function upperDir(root: string): Promise<void> {
  await mkdir(join(root, 'etc', 'opaque-dir'), { recursive: true });
  await writeFile(join(root, 'etc', 'opaque-dir', 'kept'), 'new');
  await writeFile(join(root, 'etc', 'changed'), 'changed');
  execFileSync('mknod', [join(root, 'etc', 'deleted'), 'c', '0', '0']);
  execFileSync('mknod', [join(root, 'gone-dir'), 'c', '0', '0']);
  execFileSync('mknod', [join(root, 'real-null'), 'c', '1', '3']);
}

test('overlay mode: char 0:0 → .wh.<name>, opaque dirs → .wh..wh..opq after the directory', {
  skip,
}, async () => {
  await withTempDir(async (root) => {
    await upperDir(root);
    const asked: string[] = [];
    const isOpaque = async (dir: string) => {
      asked.push(dir.slice(root.length));
      return dir === join(root, 'etc', 'opaque-dir');
    };
    const back = await readBack(await collect(packDirectoryToTar(root, { overlay: true, isOpaque })));
    assert.deepEqual(
      back.map((e) => [e.path, e.type, e.size, e.mode, e.mtime]),
      [
        ['etc/', 'dir', 0, 0o755, back[0]?.mtime],
        ['etc/changed', 'file', 7, 0o644, back[1]?.mtime],
        ['etc/.wh.deleted', 'file', 0, 0, 0],
        ['etc/opaque-dir/', 'dir', 0, 0o755, back[3]?.mtime],
        ['etc/opaque-dir/.wh..wh..opq', 'file', 0, 0, 0],
        ['etc/opaque-dir/kept', 'file', 3, 0o644, back[5]?.mtime],
        ['.wh.gone-dir', 'file', 0, 0, 0],
        ['real-null', 'char', 0, 0o644, back[7]?.mtime],
      ],
    );
    assert.deepEqual(asked, ['', '/etc', '/etc/opaque-dir']);
  });
});

test('an opaque upper root gives a top-level .wh..wh..opq first', { skip }, async () => {
  await withTempDir(async (root) => {
    await writeFile(join(root, 'f'), 'x');
    const paths: string[] = [];
    for await (const e of packDirectory(root, { overlay: true, isOpaque: async (d) => d === root }))
      paths.push(e.path);
    assert.deepEqual(paths, ['.wh..wh..opq', 'f']);
  });
});

test('default isOpaque answers false without running anything; without overlay, 0:0 stays a device', {
  skip,
}, async () => {
  await withTempDir(async (root) => {
    await upperDir(root);
    const overlay = await readBack(await collect(packDirectoryToTar(root, { overlay: true })));
    assert.ok(!overlay.some((e) => e.path.endsWith('.wh..wh..opq')));
    const plain = await readBack(await collect(packDirectoryToTar(root)));
    assert.deepEqual(
      plain.filter((e) => e.type === 'char').map((e) => e.path),
      ['etc/deleted', 'gone-dir', 'real-null'],
    );
  });
});
