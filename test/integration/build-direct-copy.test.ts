// COPY straight into the snapshot's upper dir (RootfsManager.mutateDirect, DirectCopy) gives
// the layers the copy through the mounted overlay gives: the same builds in two stores, one
// with directCopy off, must end with the same diffIDs, for the copies that take the direct
// way and for those that must fall back (something of the layers below in the way). A
// rebuild after an edit links the unchanged files from the pool: they share an inode with
// the first build's snapshot. Needs root and overlayfs; no runtime (no RUN).

import assert from 'node:assert/strict';
import { chmod, link, mkdir, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildInStore } from '../../src/build/build-in-store.js';
import { Store } from '../../src/store/store.js';
import { type BuildEnv, makeBuildEnv } from '../helpers/build-env.js';
import { makeBusyboxRootfs, overlayReason, runtimeOrReason, skipIf } from './prereqs.js';

const reason = await overlayReason();
const runtime = await runtimeOrReason();
const noRuntime = typeof runtime === 'string' ? runtime : undefined;
const EPOCH = 1_700_000_000;
const T_SRC = 1_650_000_000;

const BASE = 'FROM scratch\nCOPY base/ /\n';

/** Every COPY below is its own layer; the comment says which way it takes. */
const DOCKERFILE = `FROM direct-base
# direct: /data is the base's directory (copied up), the tree is new
COPY tree/ /data/tree/
# direct: a file into a directory of the base
COPY one.txt /opt/
# direct: new parents for a file
COPY one.txt /new/sub/file.txt
# direct, with --chmod
COPY --chmod=0600 one.txt two.txt /c/
# through the mount: a file of the base is in the way
COPY one.txt /etc/hostname
# through the mount: the base's symlink on the way
COPY one.txt /link/x.txt
# through the mount: both sources have same.txt
COPY a/ b/ /dup/
# through the mount: the tree is in the layer below now
COPY tree/ /data/tree/
# direct: a destination without a trailing slash that is a directory below
COPY two.txt /opt
`;

async function writeContext(dir: string): Promise<void> {
  const files: Record<string, string> = {
    'base/etc/hostname': 'base\n',
    'base/data/.keep': '',
    'base/opt/readme': 'opt\n',
    'tree/f1.txt': 'one\n',
    'tree/f2.txt': 'two\n',
    'tree/same1.txt': 'same\n',
    'tree/same2.txt': 'same\n',
    'tree/sub/deep/f3.txt': 'three\n',
    'tree/setuid': '#!/bin/sh\n',
    'tree/big.bin': 'x'.repeat(300 * 1024),
    'one.txt': 'one\n',
    'two.txt': 'two\n',
    'a/same.txt': 'from a\n',
    'b/same.txt': 'from b\n',
  };
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  await mkdir(join(dir, 'tree/empty'), { recursive: true });
  await symlink('f1.txt', join(dir, 'tree/link'));
  await link(join(dir, 'tree/f1.txt'), join(dir, 'tree/hard'));
  await chmod(join(dir, 'tree/setuid'), 0o4755);
  await symlink('/data', join(dir, 'base/link'));
  for (const name of ['tree/f1.txt', 'tree/same1.txt', 'tree/same2.txt', 'tree/setuid', 'one.txt', 'two.txt'])
    await utimes(join(dir, name), T_SRC, T_SRC);
}

describe('COPY into the upper dir directly (directCopy)', { concurrency: false }, () => {
  let env: BuildEnv;
  let mounted: Store;
  before(async () => {
    env = await makeBuildEnv();
    if (reason) return;
    await writeContext(env.context);
    mounted = await Store.open(join(env.root, 'store-through-mount'));
  });
  after(async () => env?.cleanup());

  const build = (store: Store, text: string, directCopy: boolean, tag: string) =>
    buildInStore(store, {
      contextDir: env.context,
      dockerfile: { text, name: 'Dockerfile' },
      sourceDateEpoch: EPOCH,
      directCopy,
      tags: [tag],
    });

  test('the same layers as the copy through the mount, direct or falling back', async (t) => {
    if (skipIf(t, reason)) return;
    await build(env.store, BASE, true, 'direct-base');
    await build(mounted, BASE, false, 'direct-base');
    const direct = await build(env.store, DOCKERFILE, true, 'direct-copy');
    const through = await build(mounted, DOCKERFILE, false, 'direct-copy');
    assert.equal(direct.image.config.rootfs.diff_ids.length, 10);
    assert.deepEqual(direct.image.config.rootfs.diff_ids, through.image.config.rootfs.diff_ids);
    assert.equal(direct.image.id, through.image.id);
  });

  test('a rebuild after an edit links the unchanged files (one inode with the first snapshot) and copies the changed one', async (t) => {
    if (skipIf(t, reason)) return;
    const text = 'FROM direct-base\nCOPY tree/ /data/tree/\n';
    await build(env.store, text, true, 'edit-1');
    const before = await snapshotsHolding(env.store, 'data/tree/f2.txt');
    await writeFile(join(env.context, 'tree/f2.txt'), 'two, edited\n');
    const edited = await build(env.store, text, true, 'edit-2');
    const after = (await snapshotsHolding(env.store, 'data/tree/f2.txt')).filter((d) => !before.includes(d));
    assert.equal(after.length, 1, 'one new snapshot holds the tree');
    const [first, second] = [before[0] as string, after[0] as string];
    for (const name of ['f1.txt', 'sub/deep/f3.txt', 'big.bin', 'setuid', 'same1.txt']) {
      const [a, b] = await Promise.all([
        stat(join(first, 'data/tree', name)),
        stat(join(second, 'data/tree', name)),
      ]);
      assert.equal(a.ino, b.ino, `${name} is shared`);
      assert.ok(b.nlink >= 3, `${name}: two snapshots and the pool`);
    }
    const [a, b] = await Promise.all([
      stat(join(first, 'data/tree/f2.txt')),
      stat(join(second, 'data/tree/f2.txt')),
    ]);
    assert.notEqual(a.ino, b.ino, 'the edited file is a new copy');
    // Files that were one inode in the context stay separate files.
    const [hard, f1] = await Promise.all([
      stat(join(second, 'data/tree/hard')),
      stat(join(second, 'data/tree/f1.txt')),
    ]);
    assert.notEqual(hard.ino, f1.ino);
    const [s1, s2] = await Promise.all([
      stat(join(second, 'data/tree/same1.txt')),
      stat(join(second, 'data/tree/same2.txt')),
    ]);
    assert.notEqual(s1.ino, s2.ino);

    const through = await build(mounted, text.replace('direct-base', 'direct-base'), false, 'edit-2');
    assert.deepEqual(edited.image.config.rootfs.diff_ids, through.image.config.rootfs.diff_ids);
  });

  test('a torn or foreign stat memo (the file hashes a build remembers, written without fsync) is taken as none', async (t) => {
    if (skipIf(t, reason)) return;
    const text = 'FROM direct-base\nCOPY one.txt two.txt /memo/\n';
    const first = await build(env.store, text, true, 'memo-1');
    const dir = join(env.store.root, 'cache', 'statmemo');
    const [file] = await readdir(dir);
    assert.ok(file, 'the build left a stat memo');
    const memo = JSON.parse(await readFile(join(dir, file), 'utf8')) as Record<string, { sha256: string }>;
    assert.ok(
      Object.values(memo).some((e) => /^[0-9a-f]{64}$/.test(e.sha256)),
      'it holds file hashes',
    );
    for (const torn of ['{"12:34": {"size": 4, "mt', '', 'null', '[1,2]']) {
      await writeFile(join(dir, file), torn);
      const again = await build(env.store, text, true, 'memo-2');
      assert.equal(again.image.id, first.image.id, `same image with the memo ${JSON.stringify(torn)}`);
    }
  });

  test('a directory a lower layer deleted (a whiteout there) is made as through the mount: overlay does not make it opaque either', async (t) => {
    if (skipIf(t, reason ?? noRuntime)) return;
    const rootfs = join(env.context, 'busybox');
    await mkdir(rootfs, { recursive: true });
    await makeBusyboxRootfs(rootfs);
    await mkdir(join(rootfs, 'data', 'old'), { recursive: true });
    await mkdir(join(rootfs, 'opt', 'old'), { recursive: true });
    await writeFile(join(rootfs, 'opt', 'old', 'file'), 'old\n');
    const base = 'FROM scratch\nCOPY busybox/ /\n';
    await build(env.store, base, true, 'busybox-base');
    await build(mounted, base, false, 'busybox-base');
    const text =
      'FROM busybox-base\nRUN rm -rf /data /opt\nCOPY one.txt /data/one.txt\nCOPY tree/ /opt/tree/\nCOPY two.txt /data/\n';
    const direct = await build(env.store, text, true, 'whiteouts');
    const through = await build(mounted, text, false, 'whiteouts');
    assert.equal(direct.image.config.rootfs.diff_ids.length, 5);
    assert.deepEqual(direct.image.config.rootfs.diff_ids, through.image.config.rootfs.diff_ids);
  });
});

/** The fs/ dirs of committed snapshots that have `path`, oldest first. */
async function snapshotsHolding(store: Store, path: string): Promise<string[]> {
  const root = join(store.snapshotsDir, 'snapshots');
  const out: { dir: string; mtime: number }[] = [];
  for (const id of await readdir(root)) {
    const dir = join(root, id, 'fs');
    const st = await stat(join(dir, path)).catch(() => undefined);
    if (st) out.push({ dir, mtime: (await stat(join(root, id))).mtimeMs });
  }
  return out.sort((a, b) => a.mtime - b.mtime).map((e) => e.dir);
}
