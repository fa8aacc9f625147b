// What can be checked without root: mounts as data, tree diffs and copies on plain files.

import assert from 'node:assert/strict';
import {
  chmod,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  copyTree,
  devMajor,
  devMinor,
  diffTrees,
  escapeOverlayPath,
  OverlaySnapshotter,
  overlayFeatureOptions,
} from '../../../src/snapshot/index.js';

async function temp(): Promise<{ path: string; done(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'strata-snapshot-unit-'));
  return { path, done: () => rm(path, { recursive: true, force: true }) };
}

test('overlay snapshotter returns mounts as data and mounts nothing', async () => {
  const root = await temp();
  try {
    const s = new OverlaySnapshotter(root.path);
    const features = overlayFeatureOptions();
    for (const f of features) assert.match(f, /^(index|redirect_dir|metacopy)=off$/);
    assert.deepEqual(await s.prepare('k0'), [
      { type: 'bind', source: (await s.stat('k0')).dir, options: ['rbind', 'rw'] },
    ]);
    await s.commit('l0', 'k0');
    await s.prepare('k1', ['l0']);
    await s.commit('l1', 'k1');
    const l0 = (await s.stat('l0')).dir;
    const l1 = (await s.stat('l1')).dir;
    const active = await s.prepare('k2', ['l1']);
    const k2 = await s.stat('k2');
    assert.deepEqual(active, [
      {
        type: 'overlay',
        source: 'overlay',
        options: [
          ...features,
          `lowerdir=${l1}:${l0}`,
          `upperdir=${k2.dir}`,
          `workdir=${join(root.path, 'snapshots', k2.id, 'work')}`,
        ],
      },
    ]);
    assert.deepEqual(await s.view('v0'), [
      { type: 'bind', source: (await s.stat('v0')).dir, options: ['rbind', 'ro'] },
    ]);
    assert.deepEqual(await s.view('v1', ['l0']), [{ type: 'bind', source: l0, options: ['rbind', 'ro'] }]);
    assert.deepEqual(await s.view('v2', ['l1']), [
      { type: 'overlay', source: 'overlay', options: [...features, `lowerdir=${l1}:${l0}`] },
    ]);
    assert.equal(s.kind, 'overlay');
  } finally {
    await root.done();
  }
});

test('escapeOverlayPath escapes the separators overlay splits on', () => {
  assert.equal(escapeOverlayPath('/a:b,c\\d'), '/a\\:b\\,c\\\\d');
  assert.equal(escapeOverlayPath('/plain/path'), '/plain/path');
});

test('devMajor/devMinor decode st_rdev like glibc', () => {
  assert.equal(devMajor(0x0103), 1);
  assert.equal(devMinor(0x0103), 3);
  assert.equal(devMajor(0x8800), 136);
  assert.equal(devMinor(0x12345), (0x12345 & 0xff) | ((0x12345 >> 12) & ~0xff));
});

test('diffTrees: added, modified, deleted, type changes, in tar order', async () => {
  const root = await temp();
  try {
    const lower = join(root.path, 'lower');
    const upper = join(root.path, 'upper');
    for (const d of [lower, upper]) {
      await mkdir(join(d, 'same', 'deep'), { recursive: true });
      await writeFile(join(d, 'same', 'deep', 'file'), 'same');
      await utimes(join(d, 'same', 'deep', 'file'), 1000, 1000);
      await utimes(join(d, 'same', 'deep'), 1000, 1000);
      await utimes(join(d, 'same'), 1000, 1000);
    }
    await writeFile(join(lower, 'modified'), 'a');
    await writeFile(join(upper, 'modified'), 'ab');
    await writeFile(join(lower, 'chmodded'), 'x');
    await writeFile(join(upper, 'chmodded'), 'x');
    await utimes(join(lower, 'chmodded'), 1000, 1000);
    await utimes(join(upper, 'chmodded'), 1000, 1000);
    await chmod(join(upper, 'chmodded'), 0o600);
    await mkdir(join(lower, 'was-dir', 'child'), { recursive: true });
    await writeFile(join(upper, 'was-dir'), 'now a file');
    await writeFile(join(lower, 'was-file'), 'x');
    await mkdir(join(upper, 'was-file'));
    await writeFile(join(upper, 'was-file', 'inner'), 'i');
    await mkdir(join(lower, 'deleted-dir', 'sub'), { recursive: true });
    await symlink('a', join(lower, 'link'));
    await symlink('b', join(upper, 'link'));
    await writeFile(join(upper, 'added'), 'new');
    const changes = (await diffTrees(lower, upper)).map((c) => `${c.kind} ${c.path}`);
    assert.deepEqual(changes, [
      'changed added',
      'changed chmodded',
      'whiteout deleted-dir',
      'changed link',
      'changed modified',
      'whiteout was-dir',
      'changed was-dir',
      'changed was-file',
      'changed was-file/inner',
    ]);
    const all = await diffTrees(undefined, upper);
    assert.equal(all[0]?.path, 'added');
    assert.ok(all.every((c) => c.kind === 'changed'));
    const added = (await diffTrees(lower, upper)).find((c) => c.path === 'added');
    assert.ok(added?.kind === 'changed' && added.type === 'file' && added.source === join(upper, 'added'));
  } finally {
    await root.done();
  }
});

test('diffTrees: anything touched after the copy marker counts as changed, metadata alike or not', async () => {
  const root = await temp();
  try {
    const lower = join(root.path, 'lower');
    const upper = join(root.path, 'upper');
    await mkdir(lower);
    await writeFile(join(lower, 'f'), 'same');
    await utimes(join(lower, 'f'), 1000, 1000);
    await mkdir(upper);
    await copyTree(lower, upper, { xattrs: false });
    const marker = (await lstat(upper)).ctimeMs;
    assert.deepEqual(await diffTrees(lower, upper, { changedAfterMs: marker }), []);
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(join(upper, 'f'), 'SAME'); // same size
    await utimes(join(upper, 'f'), 1000, 1000); // same mtime
    assert.deepEqual(await diffTrees(lower, upper), [], 'metadata alone cannot see it');
    assert.deepEqual(
      (await diffTrees(lower, upper, { changedAfterMs: marker })).map((c) => c.path),
      ['f'],
    );
  } finally {
    await root.done();
  }
});

test('copyTree keeps modes, times, symlinks and hard links', async () => {
  const root = await temp();
  try {
    const src = join(root.path, 'src');
    const dst = join(root.path, 'dst');
    await mkdir(join(src, 'd'), { recursive: true });
    await writeFile(join(src, 'd', 'exe'), '#!/bin/sh\n');
    await chmod(join(src, 'd', 'exe'), 0o4755);
    await link(join(src, 'd', 'exe'), join(src, 'hard'));
    await symlink('d/exe', join(src, 'sym'));
    await utimes(join(src, 'd', 'exe'), 1234.5, 1234.5);
    await utimes(join(src, 'd'), 1000, 1000);
    await chmod(join(src, 'd'), 0o750);
    await mkdir(dst);
    await copyTree(src, dst, { xattrs: false });
    const exe = await lstat(join(dst, 'd', 'exe'));
    assert.equal(exe.mode & 0o7777, 0o4755);
    assert.equal(exe.mtimeMs, 1234500);
    assert.equal(exe.nlink, 2);
    assert.equal((await lstat(join(dst, 'hard'))).ino, exe.ino);
    assert.equal(await readlink(join(dst, 'sym')), 'd/exe');
    const d = await lstat(join(dst, 'd'));
    assert.equal(d.mode & 0o7777, 0o750);
    assert.equal(d.mtimeMs, 1000_000);
    assert.equal(await readFile(join(dst, 'hard'), 'utf8'), '#!/bin/sh\n');
    assert.deepEqual(await diffTrees(src, dst), []);
  } finally {
    await root.done();
  }
});
