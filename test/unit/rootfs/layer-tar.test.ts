// A change set → layer tar entries: symlinks carry their targets, a second path of an inode
// becomes a hardlink to the first, files their bytes.

import assert from 'node:assert/strict';
import { link, lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { changesToTar } from '../../../src/rootfs/layer-tar.js';
import { entryType } from '../../../src/snapshot/changes.js';
import type { Change } from '../../../src/snapshot/types.js';
import { collect, readBack, withTempDir } from '../../helpers/make-tar.js';

test('changesToTar: symlink targets, hardlinks to the first path, file bodies', async () => {
  await withTempDir(async (root) => {
    await mkdir(join(root, 'bin'));
    await writeFile(join(root, 'bin', 'busybox'), 'binary');
    await link(join(root, 'bin', 'busybox'), join(root, 'bin', 'sh'));
    for (let i = 0; i < 50; i++) await symlink(`busybox-${i}`, join(root, 'bin', `applet${i}`));
    await symlink('/etc/absolute/target', join(root, 'abs'));
    const paths = [
      'abs',
      'bin',
      'bin/busybox',
      'bin/sh',
      ...Array.from({ length: 50 }, (_, i) => `bin/applet${i}`),
    ];
    const changes: Change[] = [];
    for (const path of paths) {
      const stat = await lstat(join(root, path));
      changes.push({
        kind: 'changed',
        path,
        type: entryType(stat) ?? 'file',
        source: join(root, path),
        stat,
      });
    }
    const entries = await readBack(await collect(changesToTar(changes, {})));
    const byPath = new Map(entries.map((e) => [e.path, e]));
    assert.equal(byPath.get('abs')?.type, 'symlink');
    assert.equal(byPath.get('abs')?.linkname, '/etc/absolute/target');
    for (let i = 0; i < 50; i++) assert.equal(byPath.get(`bin/applet${i}`)?.linkname, `busybox-${i}`);
    assert.equal(byPath.get('bin/busybox')?.content.toString(), 'binary');
    assert.equal(byPath.get('bin/sh')?.type, 'hardlink');
    assert.equal(byPath.get('bin/sh')?.linkname, 'bin/busybox');
  });
});
