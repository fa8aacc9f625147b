// Snapshotters against a real kernel: the shared suite for overlay and copy, the upper-dir
// reader on hand-made overlay entries, and mount cleanup after failures and crashes.

import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { BuilderError } from '../../src/errors.js';
import {
  CopySnapshotter,
  cleanupStaleMounts,
  mountAll,
  OverlaySnapshotter,
  probeSnapshotter,
  upperChanges,
} from '../../src/snapshot/index.js';
import { lsetxattr, mknod, S_IF } from '../../src/sys/index.js';
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
    if (choice.kind === 'overlay') {
      t.diagnostic('this kernel accepts overlay upper dirs on overlayfs; fallback not observable here');
    } else {
      assert.match(choice.reason ?? '', /overlayfs unusable/);
      assert.ok(choice.snapshotter instanceof CopySnapshotter);
    }
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

    lsetxattr(join(upper, 'a', 'b'), 'trusted.overlay.redirect', '/elsewhere');
    await assert.rejects(upperChanges(upper), (e) => e instanceof BuilderError && e.code === 'EPRECONDITION');
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
