// The file pool on plain files: keys tell copies apart, linkTo/adopt share one inode, prune
// removes what only the pool holds and the pools of other boots. No root needed.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bootId } from '../../../src/snapshot/base-snapshotter.js';
import { FilePool, type PoolEntryIdentity } from '../../../src/snapshot/file-pool.js';
import { skipIf } from '../../integration/prereqs.js';

const noBootId = bootId() === '' ? 'the kernel gives no boot id here, so the pool is off' : undefined;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-file-pool-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const identity: PoolEntryIdentity = {
  path: '/app/a.txt',
  source: { dev: 1, ino: 2, size: 3, mtimeMs: 4.5, ctimeMs: 6.5 },
  uid: 0,
  gid: 0,
  mode: 0o644,
  mtimeMs: 4.5,
};

test('a key changes with the destination path, the source identity and the metadata the copy gives', () => {
  const pool = new FilePool(join(dir, 'keys'));
  const base = pool.keyOf(identity);
  assert.match(base, /^[0-9a-f]{64}$/);
  assert.equal(pool.keyOf({ ...identity }), base);
  const variants: PoolEntryIdentity[] = [
    { ...identity, path: '/app/b.txt' },
    { ...identity, source: { ...identity.source, ino: 9 } },
    { ...identity, source: { ...identity.source, size: 9 } },
    { ...identity, source: { ...identity.source, mtimeMs: 9 } },
    { ...identity, source: { ...identity.source, ctimeMs: 9 } },
    { ...identity, uid: 1 },
    { ...identity, gid: 1 },
    { ...identity, mode: 0o600 },
    { ...identity, mtimeMs: 9 },
  ];
  const keys = new Set(variants.map((v) => pool.keyOf(v)));
  assert.equal(keys.size, variants.length);
  assert.ok(!keys.has(base));
});

test('adopt makes a finished file the entry; linkTo shares its inode; no entry and EEXIST are told apart', async (t) => {
  if (skipIf(t, noBootId)) return;
  const pool = new FilePool(join(dir, 'share'));
  const key = pool.keyOf(identity);
  const work = join(dir, 'share-work');
  await mkdir(work, { recursive: true });
  assert.equal(pool.linkTo(key, join(work, 'none')), false, 'no entry yet');
  assert.ok(!existsSync(join(work, 'none')));

  await writeFile(join(work, 'first'), 'bytes');
  pool.adopt(key, join(work, 'first'));
  pool.adopt(key, join(work, 'first')); // again: already there, nothing changes
  assert.equal(pool.linkTo(key, join(work, 'second')), true);
  const [a, b] = await Promise.all([stat(join(work, 'first')), stat(join(work, 'second'))]);
  assert.equal(a.ino, b.ino);
  assert.equal(b.nlink, 3, 'first, second and the pool entry');
  assert.throws(() => pool.linkTo(key, join(work, 'second')), /EEXIST/);
});

test('prune removes entries only the pool holds, keeps shared ones, and removes the pools of other boots', async (t) => {
  if (skipIf(t, noBootId)) return;
  const root = join(dir, 'prune');
  const pool = new FilePool(root);
  const work = join(dir, 'prune-work');
  await mkdir(work, { recursive: true });
  const kept = pool.keyOf(identity);
  const dropped = pool.keyOf({ ...identity, path: '/app/gone.txt' });
  await writeFile(join(work, 'kept'), 'kept');
  await writeFile(join(work, 'gone'), 'gone');
  pool.adopt(kept, join(work, 'kept'));
  pool.adopt(dropped, join(work, 'gone'));
  await unlink(join(work, 'gone')); // its snapshot went away
  const earlier = join(root, 'an-earlier-boot', 'ab');
  await mkdir(earlier, { recursive: true });
  await writeFile(join(earlier, 'abcd'), 'from before a crash');

  const result = await pool.prune();
  assert.equal(result.removed, 2, 'the lone entry and the earlier boot');
  assert.deepEqual(await readdir(root), [bootId()]);
  assert.equal(pool.linkTo(dropped, join(work, 'again')), false);
  assert.equal(pool.linkTo(kept, join(work, 'still')), true);
  assert.equal((await lstat(join(work, 'kept'))).nlink, 3);
});

test('a link batch links on a worker (a small one on this thread), hands back what the pool lacks, and fails on a path written twice', async (t) => {
  if (skipIf(t, noBootId)) return;
  const pool = new FilePool(join(dir, 'batch'));
  const batch = pool.batch();
  if (skipIf(t, batch === undefined ? 'the native addon (npm run build:native) has no linkFiles' : undefined))
    return;
  const links = batch as NonNullable<typeof batch>;
  const work = join(dir, 'batch-work');
  await mkdir(work, { recursive: true });
  const key = pool.keyOf(identity);
  await writeFile(join(work, 'entry'), 'pooled');
  pool.adopt(key, join(work, 'entry'));
  const missing = pool.keyOf({ ...identity, path: '/app/missing.txt' });
  const handedBack: string[] = [];
  for (let i = 0; i < 600; i++) {
    links.add(i === 7 ? missing : key, join(work, `t${i}`), () => handedBack.push(`t${i}`));
    if (links.full) await links.send(); // 512 at a time
  }
  await links.finish();
  assert.deepEqual(handedBack, ['t7'], 'only the entry the pool lacks comes back');
  const entry = await stat(join(work, 'entry'));
  assert.equal((await stat(join(work, 't599'))).ino, entry.ino);
  assert.equal(entry.nlink, 601, 'the entry, the pool and 599 links');
  assert.ok(!existsSync(join(work, 't7')), 'the callback makes that one, not the batch');

  const again = pool.batch() as NonNullable<typeof batch>;
  again.add(key, join(work, 't0'), () => handedBack.push('again'));
  await assert.rejects(again.finish(), { code: 'EEXIST', syscall: 'link', dest: join(work, 't0') });
  await again.settle();
  assert.deepEqual(handedBack, ['t7']);

  // A few links (the end of a copy, a one-file COPY) are made here, with the same answers.
  const small = pool.batch() as NonNullable<typeof batch>;
  small.add(key, join(work, 's0'), () => handedBack.push('s0'));
  small.add(missing, join(work, 's1'), () => handedBack.push('s1'));
  await small.finish();
  assert.deepEqual(handedBack, ['t7', 's1']);
  assert.equal((await stat(join(work, 's0'))).ino, entry.ino);
});
