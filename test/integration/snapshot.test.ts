// Snapshotters against a real kernel: the shared suite for overlay and copy, the upper-dir
// reader on hand-made overlay entries, and mount cleanup after failures and crashes.

import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BuilderError } from '../../src/errors.js';
import { upperChangesWith } from '../../src/snapshot/changes.js';
import {
  CopySnapshotter,
  cleanupStaleMounts,
  mountAll,
  OverlaySnapshotter,
  probeSnapshotter,
  upperChanges,
  withMounted,
} from '../../src/snapshot/index.js';
import type { Change } from '../../src/snapshot/types.js';
import { dirStats, lsetxattr, mknod, S_IF } from '../../src/sys/index.js';
import { mountReason, mountsBelow, overlayReason, skipIf, tempRoot } from './prereqs.js';
import { snapshotterSuite, summarize } from './snapshotter-suite.js';

snapshotterSuite('overlay', (root) => new OverlaySnapshotter(root), overlayReason);
snapshotterSuite(
  'copy',
  (root) => new CopySnapshotter(root),
  async () => mountReason(),
);

test('probeSnapshotter picks overlay where it mounts, copy when asked', async (t) => {
  if (skipIf(t, await overlayReason())) return;
  const root = await tempRoot('strata-probe-');
  try {
    const choice = await probeSnapshotter(root.path);
    assert.equal(choice.kind, 'overlay');
    assert.equal(choice.reason, undefined);
    assert.ok(choice.snapshotter instanceof OverlaySnapshotter);
    assert.deepEqual(mountsBelow(root.path), []);
    const copy = await probeSnapshotter(root.path, { prefer: 'copy' });
    assert.equal(copy.kind, 'copy');
    assert.match(copy.reason ?? '', /requested/);
  } finally {
    await root.cleanup();
  }
});

test('probeSnapshotter falls back to copy, with the reason, where overlay cannot mount', async (t) => {
  if (skipIf(t, await overlayReason())) return;
  const root = await tempRoot('strata-probe-fallback-');
  try {
    // An upper dir on an overlay filesystem is refused by the kernel.
    const base = join(root.path, 'ovl');
    for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(join(base, d), { recursive: true });
    await mountAll(
      [
        {
          type: 'overlay',
          source: 'overlay',
          options: [`lowerdir=${base}/lower`, `upperdir=${base}/upper`, `workdir=${base}/work`],
        },
      ],
      join(base, 'merged'),
    );
    const choice = await probeSnapshotter(join(base, 'merged', 'store'));
    // A kernel that takes overlay upper dirs on overlayfs leaves the fallback unobservable: say so.
    if (
      skipIf(t, choice.kind === 'overlay' ? 'this kernel accepts overlay upper dirs on overlayfs' : undefined)
    )
      return;
    assert.match(choice.reason ?? '', /overlayfs unusable/);
    assert.ok(choice.snapshotter instanceof CopySnapshotter);
  } finally {
    await root.cleanup();
  }
});

test('upperChanges reads whiteouts, opaque dirs and xattrs from a hand-made upper dir', async (t) => {
  if (skipIf(t, mountReason())) return;
  const root = await tempRoot('strata-upper-');
  try {
    const upper = root.path;
    await mkdir(join(upper, 'a', 'b'), { recursive: true });
    lsetxattr(join(upper, 'a'), 'trusted.overlay.opaque', 'y');
    await writeFile(join(upper, 'a', 'b', 'f'), 'x');
    mknod(join(upper, 'gone'), S_IF.CHR | 0o000, 0, 0);
    await mkdir(join(upper, 'gonedir-parent'));
    mknod(join(upper, 'gonedir-parent', 'gonedir'), S_IF.CHR | 0o000, 0, 0);
    await writeFile(join(upper, 'cap'), '#!/bin/sh\n');
    lsetxattr(join(upper, 'cap'), 'user.note', 'kept');
    lsetxattr(join(upper, 'cap'), 'trusted.overlay.origin', 'dropped');
    mknod(join(upper, 'realdev'), S_IF.CHR | 0o600, 1, 3);
    const changes = await upperChanges(upper, { xattrs: true });
    assert.deepEqual(summarize(changes), [
      'changed a',
      'opaque a',
      'changed a/b',
      'changed a/b/f',
      'changed cap',
      'whiteout gone',
      'changed gonedir-parent',
      'whiteout gonedir-parent/gonedir',
      'changed realdev',
    ]);
    const cap = changes.find((c) => c.path === 'cap');
    assert.ok(cap?.kind === 'changed');
    assert.deepEqual(Object.keys(cap.xattrs ?? {}), ['user.note']);
    assert.equal(cap.xattrs?.['user.note']?.toString(), 'kept');
    assert.equal(cap.type, 'file');
    const dev = changes.find((c) => c.path === 'realdev');
    assert.ok(dev?.kind === 'changed' && dev.type === 'char');

    // The addon's one-call-per-directory walk and the entry-by-entry one agree, field by field.
    await writeFile(join(upper, 'a', 'b', 'caf\u00e9'), 'non-ASCII names sort by bytes');
    await writeFile(join(upper, 'a', 'b', 'Z'), 'upper case first');
    await symlink('a/b/f', join(upper, 'link'));
    mknod(join(upper, 'pipe'), S_IF.FIFO | 0o644, 0, 0);
    const lstatDir = dirStats();
    assert.ok(lstatDir, 'the native addon (npm run build:native) has lstatDir');
    const fields = (list: Change[]) =>
      list.map((c) =>
        c.kind !== 'changed'
          ? c
          : {
              ...c,
              stat: [
                c.stat.mode,
                c.stat.uid,
                c.stat.gid,
                c.stat.size,
                c.stat.mtimeMs,
                c.stat.dev,
                c.stat.ino,
                c.stat.nlink,
                c.stat.rdev,
              ],
            },
      );
    for (const xattrs of [true, false]) {
      const native = upperChangesWith(upper, { xattrs }, lstatDir);
      assert.deepEqual(fields(native), fields(upperChangesWith(upper, { xattrs }, undefined)));
      assert.ok(native.some((c) => c.path === 'a/b/caf\u00e9') && native.some((c) => c.path === 'pipe'));
    }

    lsetxattr(join(upper, 'a', 'b'), 'trusted.overlay.redirect', '/elsewhere');
    await assert.rejects(upperChanges(upper), (e) => e instanceof BuilderError && e.code === 'EPRECONDITION');
    assert.throws(
      () => upperChangesWith(upper, {}, undefined),
      (e) => e instanceof BuilderError && e.code === 'EPRECONDITION',
    );
  } finally {
    await root.cleanup();
  }
});

test('cleanupStaleMounts unmounts whatever a crashed step left under the root', async (t) => {
  if (skipIf(t, await overlayReason())) return;
  const root = await tempRoot('strata-stale-');
  try {
    const s = new OverlaySnapshotter(root.path);
    await s.prepare('k');
    await s.commit('base', 'k');
    const target = join(root.path, 'mnt', 'step');
    await mountAll(await s.prepare('step', ['base']), target);
    await mkdir(join(target, 'inner'));
    await mountAll(
      [{ type: 'bind', source: join(root.path, 'snapshots'), options: ['rbind', 'ro'] }],
      join(target, 'inner'),
    );
    assert.equal(mountsBelow(root.path).length >= 2, true);
    const unmounted = cleanupStaleMounts(root.path);
    assert.ok(unmounted.length >= 2);
    assert.equal(unmounted[0], join(target, 'inner'), 'deepest first');
    assert.deepEqual(mountsBelow(root.path), []);
    assert.deepEqual(cleanupStaleMounts(root.path), []);
  } finally {
    await root.cleanup();
  }
});

test('probeSnapshotter remembers whether overlay takes the volatile option (Linux >= 5.10 does)', async (t) => {
  if (skipIf(t, await overlayReason())) return;
  const root = await tempRoot('strata-probe-volatile-');
  try {
    await probeSnapshotter(root.path);
    const memo = JSON.parse(await readFile(join(root.path, 'overlay-probe.json'), 'utf8'));
    const [major = 0, minor = 0] = release().split('.').map(Number);
    assert.equal(memo.volatile, major > 5 || (major === 5 && minor >= 10), JSON.stringify(memo));
    assert.deepEqual(mountsBelow(root.path), []);
  } finally {
    await root.cleanup();
  }
});

test('volatile step snapshots: mounted without syncs, and gone after a reboot; what sits on them stays', async (t) => {
  if (skipIf(t, await overlayReason())) return;
  const root = await tempRoot('strata-volatile-');
  try {
    const s = new OverlaySnapshotter(root.path, { volatile: true });
    await s.prepare('k-base', [], { volatile: true });
    await s.commit('base', 'k-base');
    await s.prepare('k-lasting');
    await s.commit('lasting', 'k-lasting');

    const stepMounts = await s.prepare('k-step', ['base'], { volatile: true });
    assert.ok(stepMounts[0]?.options.includes('volatile'), JSON.stringify(stepMounts));
    const target = join(root.path, 'mnt', 'step');
    await withMounted(stepMounts, target, async (dir) => writeFile(join(dir, 'f'), 'written'));
    await s.commit('step', 'k-step');
    assert.equal(await readFile(join((await s.stat('step')).dir, 'f'), 'utf8'), 'written');
    // A container's writable layer over it: not volatile, and its own bytes must last.
    const childMounts = await s.prepare('container/c1', ['step']);
    assert.ok(!childMounts[0]?.options.includes('volatile'));
    await withMounted(childMounts, target, async (dir) => writeFile(join(dir, 'mine'), 'user data'));

    // Another boot: rewrite the boot id the records carry, as if written before a reboot.
    const metadata = join(root.path, 'metadata');
    for (const file of await readdir(metadata)) {
      const record = JSON.parse(await readFile(join(metadata, file), 'utf8'));
      if (record.boot !== undefined)
        await writeFile(join(metadata, file), JSON.stringify({ ...record, boot: 'an-earlier-boot' }));
    }
    const dirs = (await readdir(join(root.path, 'snapshots'))).length;
    assert.equal(await s.find('step'), undefined);
    assert.equal(await s.find('base'), undefined);
    assert.deepEqual((await s.list()).map((i) => i.name).sort(), ['container/c1', 'lasting']);
    assert.equal(
      (await readdir(join(root.path, 'snapshots'))).length,
      dirs - 2,
      'their directories went too',
    );
    // The chain is unpacked again under the same names; the container's layer mounts over it.
    await s.prepare('k-base2');
    await s.commit('base', 'k-base2');
    await withMounted(await s.prepare('k-step2', ['base']), target, async (dir) =>
      writeFile(join(dir, 'f'), 'written'),
    );
    await s.commit('step', 'k-step2');
    await withMounted(await s.mounts('container/c1'), target, async (dir) => {
      assert.equal(await readFile(join(dir, 'mine'), 'utf8'), 'user data');
      assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'written');
    });
  } finally {
    await root.cleanup();
  }
});

test('direct step snapshots: no work dir, no mounts, refused to mount(); committed and removed as others', async (t) => {
  if (skipIf(t, await overlayReason())) return;
  const root = await tempRoot('strata-direct-');
  try {
    const s = new OverlaySnapshotter(root.path, { volatile: true });
    await s.prepare('k-base', []);
    await s.commit('base', 'k-base');
    assert.deepEqual(await s.prepare('k-direct', ['base'], { volatile: true, direct: true }), []);
    const info = await s.stat('k-direct');
    assert.deepEqual(await readdir(join(info.dir, '..')), ['fs'], 'no overlay work dir');
    await assert.rejects(s.mounts('k-direct'), (e) => e instanceof BuilderError && e.code === 'EINVAL');
    await writeFile(join(info.dir, 'f'), 'in place');
    await s.commit('step', 'k-direct');
    const committed = await s.stat('step');
    assert.equal(await readFile(join(committed.dir, 'f'), 'utf8'), 'in place');
    const metadata = join(root.path, 'metadata');
    for (const file of await readdir(metadata)) {
      const record = JSON.parse(await readFile(join(metadata, file), 'utf8'));
      assert.equal(record.direct, undefined, `a committed record keeps no direct flag: ${file}`);
    }
    // It is a parent like any other: a mounted step on top sees its file.
    const target = join(root.path, 'mnt');
    await withMounted(await s.prepare('k-top', ['step']), target, async (dir) =>
      assert.equal(await readFile(join(dir, 'f'), 'utf8'), 'in place'),
    );
    await s.prepare('k-gone', ['base'], { direct: true });
    await s.remove('k-gone');
    assert.equal(await s.find('k-gone'), undefined);
  } finally {
    await root.cleanup();
  }
});
