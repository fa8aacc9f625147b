import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BuilderError } from '../../../src/errors.js';
import {
  compactOverlayData,
  dirStats,
  filesLinker,
  filesReader,
  LSTAT_FIELDS,
  lgetxattr,
  lsetxattr,
  MNT,
  MS,
  mountsUnder,
  nativeSha256,
  parseMountInfo,
  parseMountOptions,
  prefetchFiles,
  S_IF,
  sysAvailable,
  sysConstants,
  sysUnavailableReason,
  XATTR,
} from '../../../src/sys/index.js';
import { skipIf } from '../../integration/prereqs.js';

const MOUNTINFO = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 27 0:39 / /var/lib/strata/mnt/step rw,relatime shared:20 master:3 - overlay overlay rw,lowerdir=/a\\,b:/c,upperdir=/u,workdir=/w
41 40 0:40 / /var/lib/strata/mnt/step/dev rw,nosuid - tmpfs tmpfs rw,mode=755
42 27 0:41 /sub /var/lib/strata/mnt/with\\040space rw - ext4 /dev/vdb rw
43 27 0:42 / /var/lib/strata-other rw - tmpfs tmpfs rw
`;

test('parseMountInfo reads fields, optional tags, octal escapes and overlay options', () => {
  const table = parseMountInfo(MOUNTINFO);
  assert.equal(table.length, 6);
  const overlay = table[2];
  assert.equal(overlay?.mountId, 40);
  assert.equal(overlay?.parentId, 27);
  assert.equal(overlay?.device, '0:39');
  assert.equal(overlay?.mountPoint, '/var/lib/strata/mnt/step');
  assert.deepEqual(overlay?.optionalFields, ['shared:20', 'master:3']);
  assert.equal(overlay?.fsType, 'overlay');
  assert.deepEqual(overlay?.superOptions, ['rw', 'lowerdir=/a\\,b:/c', 'upperdir=/u', 'workdir=/w']);
  assert.equal(table[4]?.mountPoint, '/var/lib/strata/mnt/with space');
  assert.equal(table[4]?.root, '/sub');
});

test('mountsUnder matches the directory and what is below it, not siblings with the same prefix', () => {
  const table = parseMountInfo(MOUNTINFO);
  assert.deepEqual(
    mountsUnder('/var/lib/strata', table).map((m) => m.mountId),
    [40, 41, 42],
  );
  assert.deepEqual(
    mountsUnder('/var/lib/strata/mnt/step', table).map((m) => m.mountId),
    [40, 41],
  );
});

test('parseMountOptions splits flags, propagation and filesystem data like runc', () => {
  assert.deepEqual(parseMountOptions(['rbind', 'ro', 'nosuid', 'rprivate']), {
    flags: MS.BIND | MS.REC | MS.RDONLY | MS.NOSUID,
    propagation: [MS.PRIVATE | MS.REC],
    data: [],
  });
  assert.deepEqual(parseMountOptions(['nosuid', 'strictatime', 'mode=755', 'size=65536k']), {
    flags: MS.NOSUID | MS.STRICTATIME,
    propagation: [],
    data: ['mode=755', 'size=65536k'],
  });
  assert.equal(parseMountOptions(['ro', 'rw']).flags, 0, 'later options win');
  assert.deepEqual(parseMountOptions(['lowerdir=/a:/b', 'index=off']).data, ['lowerdir=/a:/b', 'index=off']);
  assert.equal(parseMountOptions().flags, 0);
});

test("long overlay options are rewritten relative to the layers' common parent", () => {
  const layers = Array.from(
    { length: 150 },
    (_, i) => `/var/lib/strata/snapshots/${String(i).padStart(12, '0')}/fs`,
  );
  const data = [
    'index=off',
    `lowerdir=${layers.join(':')}`,
    'upperdir=/var/lib/strata/snapshots/u/fs',
    'workdir=/var/lib/strata/snapshots/u/work',
  ];
  assert.ok(data.join(',').length > 4095);
  const compact = compactOverlayData(data);
  assert.ok(compact);
  assert.equal(compact.cwd, '/var/lib/strata/snapshots');
  assert.equal(compact.data[0], 'index=off');
  assert.ok(compact.data[1]?.startsWith('lowerdir=000000000000/fs:000000000001/fs:'));
  assert.equal(compact.data[2], 'upperdir=u/fs');
  assert.equal(compact.data[3], 'workdir=u/work');
  assert.ok(compact.data.join(',').length < data.join(',').length);
  assert.equal(compactOverlayData(['lowerdir=/a:/b']), undefined, 'short options stay as they are');
});

test('the constants match the values the addon was compiled with', (t) => {
  if (skipIf(t, sysAvailable() ? undefined : `native addon unavailable: ${sysUnavailableReason()}`)) return;
  const c = sysConstants();
  for (const [name, value] of Object.entries(MS)) assert.equal(c[`MS_${name}`], value, `MS_${name}`);
  for (const [name, value] of Object.entries(MNT)) {
    assert.equal(c[name === 'UMOUNT_NOFOLLOW' ? name : `MNT_${name}`], value, name);
  }
  for (const [name, value] of Object.entries(XATTR)) assert.equal(c[`XATTR_${name}`], value, `XATTR_${name}`);
  for (const [name, value] of Object.entries(S_IF)) {
    const cName = name === 'FIFO' ? 'S_IFIFO' : `S_IF${name}`;
    assert.equal(c[cName], value, cName);
  }
});

test('addon errors look like Node fs errors; argument errors are TypeErrors', (t) => {
  if (skipIf(t, sysAvailable() ? undefined : `native addon unavailable: ${sysUnavailableReason()}`)) return;
  assert.throws(
    () => lgetxattr('/nonexistent/strata', 'user.x'),
    (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ENOENT');
      assert.equal(err.errno, -2);
      assert.equal(err.syscall, 'lgetxattr');
      assert.equal(err.path, '/nonexistent/strata');
      assert.equal(err.message, "ENOENT: no such file or directory, lgetxattr '/nonexistent/strata'");
      assert.ok(!(err instanceof BuilderError));
      return true;
    },
  );
  assert.throws(() => lgetxattr(42 as unknown as string, 'user.x'), TypeError);
  assert.throws(() => lgetxattr('/tmp\0x', 'user.x'), /NUL/);
  assert.equal(lgetxattr('/', 'user.strata-absent'), null);
});

test('prefetchFiles and filesReader: best-effort read-ahead; whole-file reads on a worker that see growth', async (t) => {
  if (skipIf(t, sysAvailable() ? undefined : `native addon unavailable: ${sysUnavailableReason()}`)) return;
  const dir = mkdtempSync(join(tmpdir(), 'strata-sys-'));
  try {
    const file = join(dir, 'f');
    const other = join(dir, 'g');
    writeFileSync(file, 'hello');
    writeFileSync(other, 'abc');
    // Missing paths and directories are skipped, not errors; it resolves once the requests are made.
    await prefetchFiles([file, join(dir, 'missing'), dir]);
    await assert.rejects(prefetchFiles(42 as never) as Promise<void>, TypeError);
    const read = filesReader() as NonNullable<ReturnType<typeof filesReader>>;
    const buf = Buffer.alloc(16, 0x2e);
    assert.deepEqual([...(await read([file, other], buf, Float64Array.of(3, 5, 10, 3)))], [5, 3]);
    assert.equal(buf.toString('latin1'), '...hello..abc...');
    assert.deepEqual(
      [...(await read([file, file], buf, Float64Array.of(0, 4, 8, 8)))],
      [5, 5],
      'a file longer than the size given reads as size + 1, a shorter one as what it has',
    );
    await assert.rejects(
      read([file], buf, Float64Array.of(10, 8)),
      TypeError,
      'the range must lie in the buffer',
    );
    await assert.rejects(read([file], buf, Float64Array.of(0)), TypeError, 'an offset and a size per path');
    await assert.rejects(read([other, join(dir, 'missing')], buf, Float64Array.of(0, 3, 3, 1)), {
      code: 'ENOENT',
      syscall: 'open',
      path: join(dir, 'missing'),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('filesLinker links on a worker and reports each failure; dirStats lists a directory with lstat and xattr names', async (t) => {
  if (skipIf(t, sysAvailable() ? undefined : `native addon unavailable: ${sysUnavailableReason()}`)) return;
  const dir = mkdtempSync(join(tmpdir(), 'strata-sys-'));
  try {
    const file = join(dir, 'f');
    writeFileSync(file, 'x');
    const link = filesLinker() as NonNullable<ReturnType<typeof filesLinker>>;
    assert.deepEqual(
      await link([file, join(dir, 'missing'), file], [join(dir, 'l1'), join(dir, 'l2'), join(dir, 'l1')]),
      [undefined, 'ENOENT', 'EEXIST'],
    );
    assert.equal(statSync(join(dir, 'l1')).ino, statSync(file).ino);
    await assert.rejects(link([file], []), TypeError);

    mkdirSync(join(dir, 'sub'));
    lsetxattr(join(dir, 'sub'), 'user.strata-test', 'd');
    lsetxattr(file, 'user.strata-test', 'f');
    const lstatDir = dirStats() as NonNullable<ReturnType<typeof dirStats>>;
    const listed = lstatDir(dir, false);
    assert.deepEqual(listed.names, ['f', 'l1', 'sub']);
    const st = lstatSync(join(dir, 'l1'));
    const f = LSTAT_FIELDS;
    assert.deepEqual(
      [...listed.stats.subarray(f, 2 * f)],
      [st.mode, st.uid, st.gid, st.size, st.mtimeMs, st.dev, st.ino, st.nlink, st.rdev],
    );
    assert.equal(listed.xattrs[0], null, "files' xattrs are listed only when asked");
    assert.deepEqual(listed.xattrs[2], ['user.strata-test'], "directories' always are");
    assert.deepEqual(lstatDir(dir, true).xattrs, [
      ['user.strata-test'],
      ['user.strata-test'],
      ['user.strata-test'],
    ]);
    assert.equal(lstatDir(join(dir, 'sub'), true).names.length, 0);
    assert.throws(() => lstatDir(join(dir, 'missing'), false), { code: 'ENOENT', syscall: 'opendir' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sha256UpdateAsync hashes a list of chunks in order, as one chunk would', async (t) => {
  const sha = nativeSha256();
  if (
    skipIf(
      t,
      sha ? undefined : `native SHA-256 unavailable: ${sysUnavailableReason() ?? 'no OpenSSL symbols'}`,
    )
  )
    return;
  const native = sha as NonNullable<typeof sha>;
  const parts = [
    Buffer.from('a'.repeat(100)),
    Buffer.from('b'.repeat(1000)),
    Buffer.alloc(0),
    Buffer.from('c'),
  ];
  const state = native.init();
  await new Promise<void>((resolve, reject) =>
    native.updateAsync(state, parts, (err) => (err ? reject(err) : resolve())),
  );
  assert.equal(
    native.final(state).toString('hex'),
    createHash('sha256').update(Buffer.concat(parts)).digest('hex'),
  );
});
