// LowerLayers (src/snapshot/lower-layers.ts) answers, from the layer directories alone, what a
// read-only overlay mount of them shows: checked path by path against that mount, over layers
// with whiteouts, an opaque directory, a directory replaced by a file and the reverse, a
// symlink, and directories merged across layers with their own modes and xattrs.

import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, type Stats, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LowerLayers } from '../../src/snapshot/lower-layers.js';
import { withMounted } from '../../src/snapshot/mount.js';
import { escapeOverlayPath, overlayFeatureOptions } from '../../src/snapshot/overlay-snapshotter.js';
import { llistxattr, lsetxattr, mknod, S_IF } from '../../src/sys/index.js';
import { makeTempDir } from '../helpers/tmp-dir.js';
import { overlayReason, skipIf } from './prereqs.js';

const reason = await overlayReason();

describe('LowerLayers: overlay lookup without the mount', () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let top: string;
  let middle: string;
  let bottom: string;

  before(async () => {
    tmp = await makeTempDir('strata-lowers-');
    [top, middle, bottom] = ['top', 'middle', 'bottom'].map((n) => join(tmp.path, n)) as [
      string,
      string,
      string,
    ];
    if (reason) return;
    const file = (path: string, text: string) => {
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, text);
    };
    const dir = (path: string, mode: number) => {
      mkdirSync(path, { recursive: true });
      chmodSync(path, mode);
    };
    const whiteout = (path: string) => mknod(path, S_IF.CHR | 0o000, 0, 0);
    // bottom
    dir(join(bottom, 'a/sub'), 0o755);
    file(join(bottom, 'a/x'), 'x');
    file(join(bottom, 'a/sub/y'), 'y');
    file(join(bottom, 'b'), 'b');
    dir(join(bottom, 'c'), 0o755);
    file(join(bottom, 'c/z'), 'z');
    symlinkSync('a', join(bottom, 'd'));
    dir(join(bottom, 'e'), 0o755);
    file(join(bottom, 'e/f'), 'f');
    dir(join(bottom, 'op'), 0o755);
    file(join(bottom, 'op/old'), 'old');
    file(join(bottom, 'h'), 'a file below a directory');
    // middle
    dir(join(middle, 'a'), 0o750);
    lsetxattr(join(middle, 'a'), 'user.layer', 'middle');
    file(join(middle, 'a/x2'), 'x2');
    whiteout(join(middle, 'b'));
    file(join(middle, 'c'), 'c is a file now');
    dir(join(middle, 'op'), 0o711);
    lsetxattr(join(middle, 'op'), 'trusted.overlay.opaque', 'y');
    file(join(middle, 'op/new'), 'new');
    dir(join(middle, 'e'), 0o700);
    dir(join(middle, 'h'), 0o755);
    file(join(middle, 'h/in'), 'in');
    // top
    dir(join(top, 'a'), 0o755);
    whiteout(join(top, 'a/sub'));
    dir(join(top, 'g/deep'), 0o755);
    file(join(top, 'e/f2'), 'f2');
    utimesSync(join(top, 'e'), 1_600_000_000, 1_600_000_000);
  });
  after(() => tmp?.cleanup());

  const PATHS = [
    '/',
    '/a',
    '/a/x',
    '/a/x2',
    '/a/sub',
    '/a/sub/y',
    '/b',
    '/b/x',
    '/c',
    '/c/z',
    '/d',
    '/d/x',
    '/e',
    '/e/f',
    '/e/f2',
    '/op',
    '/op/old',
    '/op/new',
    '/g',
    '/g/deep',
    '/h',
    '/h/in',
    '/missing',
    '/a/missing',
    '/missing/x',
  ];

  test('every path as the read-only overlay of the same layers shows it', async (t) => {
    if (skipIf(t, reason)) return;
    const layers = new LowerLayers([top, middle, bottom]);
    const lowerdir = [top, middle, bottom].map(escapeOverlayPath).join(':');
    const target = join(tmp.path, 'mnt');
    mkdirSync(target);
    const seen: Record<string, string> = {};
    await withMounted(
      [{ type: 'overlay', source: 'overlay', options: [...overlayFeatureOptions(), `lowerdir=${lowerdir}`] }],
      target,
      async (mnt) => {
        for (const path of PATHS) {
          const ours = layers.entry(path);
          let theirs: Stats | undefined;
          try {
            theirs = lstatSync(join(mnt, path), { throwIfNoEntry: false });
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
          }
          if (ours.kind === 'found') {
            assert.ok(theirs !== undefined, `${path}: the mount has nothing`);
            const a = ours.stats;
            // A directory's size is its own layer's business; the rest is what the mount shows.
            const fields = (s: Stats) => [s.mode, s.uid, s.gid, s.mtimeMs, s.isDirectory() ? 0 : s.size];
            assert.deepEqual(fields(a), fields(theirs), path);
            const names = (p: string) =>
              llistxattr(p)
                .filter((n) => !n.startsWith('trusted.overlay.'))
                .sort();
            assert.deepEqual(names(ours.host), names(join(mnt, path)), `${path}: xattrs`);
            seen[path] = a.isDirectory() ? 'dir' : a.isSymbolicLink() ? 'symlink' : 'file';
          } else if (ours.kind === 'absent') {
            assert.equal(theirs, undefined, `${path}: the mount has it`);
            seen[path] = 'absent';
          } else {
            // Through a non-directory: the mount finds that component not a directory.
            const at = lstatSync(join(mnt, ours.at));
            assert.ok(!at.isDirectory(), `${path}: ${ours.at} is a directory in the mount`);
            seen[path] = `blocked at ${ours.at}`;
          }
        }
      },
    );
    // What the layers make of each path, so a lookup that answered "absent" everywhere would fail.
    assert.deepEqual(seen, {
      '/': 'dir',
      '/a': 'dir',
      '/a/x': 'file',
      '/a/x2': 'file',
      '/a/sub': 'absent',
      '/a/sub/y': 'absent',
      '/b': 'absent',
      '/b/x': 'absent',
      '/c': 'file',
      '/c/z': 'blocked at /c',
      '/d': 'symlink',
      '/d/x': 'blocked at /d',
      '/e': 'dir',
      '/e/f': 'file',
      '/e/f2': 'file',
      '/op': 'dir',
      '/op/old': 'absent',
      '/op/new': 'file',
      '/g': 'dir',
      '/g/deep': 'dir',
      '/h': 'dir',
      '/h/in': 'file',
      '/missing': 'absent',
      '/a/missing': 'absent',
      '/missing/x': 'absent',
    });
  });
});
