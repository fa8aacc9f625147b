// TarArchive.writeToFile (the addon's tar_writer.c) against generateTar, byte for byte: the
// layer of a big COPY is written the native way, everything else (gzip, save, push) reads
// generateTar's blocks, and both must be the same archive.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateTar, TarArchive, type TarWriterEntry } from '../../../src/archive/tar-writer.js';
import { isBuilderError } from '../../../src/errors.js';
import { sysUnavailableReason, tarFileWriter } from '../../../src/sys/index.js';
import { collect, withTempDir } from '../../helpers/make-tar.js';
import { skipIf } from '../../integration/prereqs.js';

const noWriter = () =>
  tarFileWriter()
    ? undefined
    : `the addon's writeTar is unavailable: ${sysUnavailableReason() ?? 'no OpenSSL SHA-256'}`;

/** The archive written natively into a file: its bytes, and what writeToFile said. */
async function writeNative(dir: string, archive: TarArchive) {
  const out = join(dir, `out-${Math.random().toString(16).slice(2)}`);
  const fd = openSync(out, 'w', 0o600);
  try {
    const result = await archive.writeToFile(fd);
    return { result, bytes: readFileSync(out) };
  } finally {
    closeSync(fd);
  }
}

const common = { mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 };

/** Makes entries app/<name> of files written into `dir`. */
const fileIn =
  (dir: string) =>
  (name: string, bytes: Buffer): TarWriterEntry => {
    writeFileSync(join(dir, name), bytes);
    return { ...common, path: `app/${name}`, type: 'file', size: bytes.length, sourcePath: join(dir, name) };
  };

test('writeToFile writes generateTar’s bytes, hashed: plain and PAX headers, bodies across blocks, every entry type', async (t) => {
  if (skipIf(t, noWriter())) return;
  await withTempDir(async (dir) => {
    const file = fileIn(dir);
    const sizes = [0, 1, 511, 512, 513, (1 << 20) - 512, (1 << 20) - 1000, 1 << 20, (3 << 20) + 77];
    const entries: TarWriterEntry[] = [
      { ...common, path: 'app', type: 'dir', size: 0, mode: 0o755 },
      ...sizes.map((n, i) => file(`f${i}`, Buffer.alloc(n, 0x41 + i))),
      { ...file('caf\u00e9-non-ascii', Buffer.from('pax path')) },
      { ...file(`${'n'.repeat(120)}`, Buffer.from('long name')) },
      { ...file('xattrs', Buffer.from('x')), xattrs: { 'user.note': Buffer.from('kept') } },
      { ...file('big-ids', Buffer.from('ids')), uid: 3_000_000, gid: 3_000_000, mtime: 1.5 },
      { ...common, path: 'app/link', type: 'symlink', size: 0, linkname: 'f1' },
      { ...common, path: 'app/hard', type: 'hardlink', size: 0, linkname: 'app/f1' },
      { ...common, path: 'app/dev', type: 'char', size: 0, devmajor: 1, devminor: 3 },
      { ...common, path: 'app/fifo', type: 'fifo', size: 0 },
    ];
    for (const sourceDateEpoch of [undefined, 1_600_000_000]) {
      const options = sourceDateEpoch === undefined ? {} : { sourceDateEpoch };
      const expected = await collect(generateTar(entries, options));
      const { result, bytes } = await writeNative(dir, new TarArchive(() => entries, options));
      assert.ok(bytes.equals(expected), `same bytes (SOURCE_DATE_EPOCH ${sourceDateEpoch})`);
      assert.deepEqual(result, {
        digest: createHash('sha256').update(expected).digest('hex'),
        size: expected.length,
      });
    }
    // Empty archive: the end marker only.
    const empty = await writeNative(dir, new TarArchive(() => []));
    assert.deepEqual(empty.bytes, Buffer.alloc(1024));
  });
});

test('writeToFile: a file that changed size since its stat, a missing file, and what it leaves to generateTar', async (t) => {
  if (skipIf(t, noWriter())) return;
  await withTempDir(async (dir) => {
    writeFileSync(join(dir, 'f'), 'hello');
    const entry = (size: number, sourcePath = join(dir, 'f')): TarWriterEntry => ({
      ...common,
      path: 'f',
      type: 'file',
      size,
      sourcePath,
    });
    for (const [size, words] of [
      [4, /longer than its size 4/],
      [9, /has 5 bytes, expected 9/],
    ] as const) {
      await assert.rejects(
        writeNative(dir, new TarArchive(() => [entry(size)])),
        (e) =>
          isBuilderError(e) && e.code === 'EPRECONDITION' && /^f: /.test(e.message) && words.test(e.message),
      );
    }
    await assert.rejects(writeNative(dir, new TarArchive(() => [entry(1, join(dir, 'missing'))])), {
      code: 'ENOENT',
      path: join(dir, 'missing'),
    });
    // A file that refuses the writes (a read-only descriptor): the error, and no thread left waiting.
    const big = join(dir, 'big');
    writeFileSync(big, Buffer.alloc(5 << 20, 1));
    const readOnly = openSync(big, 'r');
    try {
      const many = Array.from({ length: 20 }, (_, i) => ({ ...entry(5 << 20, big), path: `big${i}` }));
      await assert.rejects(new TarArchive(() => many).writeToFile(readOnly), {
        code: 'EBADF',
        syscall: 'write',
      });
    } finally {
      closeSync(readOnly);
    }
    // A body only open() gives, or entries that come asynchronously: not written, nothing in the file.
    const streamed = { ...common, path: 's', type: 'file' as const, size: 1, open: () => [Buffer.from('s')] };
    assert.equal((await writeNative(dir, new TarArchive(() => [streamed]))).result, undefined);
    const later = async function* () {
      yield entry(5);
    };
    const asyncOnes = await writeNative(dir, new TarArchive(later));
    assert.equal(asyncOnes.result, undefined);
    assert.equal(asyncOnes.bytes.length, 0);
    // Read as blocks, the same archive comes out either way.
    assert.ok((await collect(new TarArchive(later))).equals(await collect(generateTar([entry(5)]))));
  });
});

test('inMemory gives generateTar’s bytes up to its limit, nothing past it, and refuses a file that changed size', async () => {
  await withTempDir(async (dir) => {
    const file = fileIn(dir);
    const entries: TarWriterEntry[] = [
      { ...common, path: 'app', type: 'dir', size: 0, mode: 0o755 },
      ...[0, 1, 511, 512, 513, 5000].map((n, i) => file(`f${i}`, Buffer.alloc(n, 0x61 + i))),
      file(`${'n'.repeat(120)}`, Buffer.from('long name: a PAX header')),
      { ...file('xattrs', Buffer.from('x')), xattrs: { 'user.note': Buffer.from('kept') } },
      { ...common, path: 'app/link', type: 'symlink', size: 0, linkname: 'f1' },
      { ...common, path: 'app/hard', type: 'hardlink', size: 0, linkname: 'app/f1' },
      { ...common, path: 'app/fifo', type: 'fifo', size: 0 },
    ];
    for (const sourceDateEpoch of [undefined, 1_600_000_000]) {
      const options = sourceDateEpoch === undefined ? {} : { sourceDateEpoch };
      const expected = await collect(generateTar(entries, options));
      const archive = new TarArchive(() => entries, options);
      assert.ok(archive.inMemory(expected.length)?.equals(expected), `same bytes (${sourceDateEpoch})`);
      assert.equal(archive.inMemory(expected.length - 1), undefined, 'one byte over the limit');
    }
    assert.deepEqual(new TarArchive(() => []).inMemory(1024), Buffer.alloc(1024));
    // What writeToFile leaves to generateTar is left here too.
    const streamed = { ...common, path: 's', type: 'file' as const, size: 1, open: () => [Buffer.from('s')] };
    assert.equal(new TarArchive(() => [streamed]).inMemory(1 << 20), undefined);
    const later = async function* () {
      yield entries[1] as TarWriterEntry;
    };
    assert.equal(new TarArchive(later).inMemory(1 << 20), undefined);
    // A size that no longer matches: the same errors as the addon's.
    const f = join(dir, 'f');
    writeFileSync(f, 'hello');
    for (const [size, words] of [
      [4, /longer than its size 4/],
      [9, /has 5 bytes, expected 9/],
    ] as const) {
      const archive = new TarArchive(() => [{ ...common, path: 'f', type: 'file', size, sourcePath: f }]);
      assert.throws(
        () => archive.inMemory(1 << 20),
        (e) =>
          isBuilderError(e) && e.code === 'EPRECONDITION' && /^f: /.test(e.message) && words.test(e.message),
      );
    }
  });
});
