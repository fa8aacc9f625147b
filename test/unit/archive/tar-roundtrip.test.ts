// Writer → reader: whatever the writer can express, the reader gives back.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readTar } from '../../../src/archive/tar-reader.js';
import {
  encodeEntryHeader,
  generateTar,
  type TarWriterEntry,
  tarStream,
} from '../../../src/archive/tar-writer.js';
import { isBuilderError } from '../../../src/errors.js';
import { bytesOf, collect, readBack } from '../../helpers/make-tar.js';

function file(path: string, content: string | Buffer, extra: Partial<TarWriterEntry> = {}): TarWriterEntry {
  const body = Buffer.from(content);
  return {
    path,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 1_700_000_000,
    open: () => [body],
    ...extra,
  };
}

const longDir = Array.from({ length: 6 }, (_, i) => `directory-number-${i}-with-a-long-name`).join('/');

const entries: TarWriterEntry[] = [
  { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 4096, mtime: 1_600_000_000 },
  file('etc/empty', ''),
  file('etc/hosts', '127.0.0.1 localhost\n', { mode: 0o4755, uid: 3_000_000, gid: 4_000_000 }),
  file(
    `${longDir}/and-a-file-whose-name-alone-is-long-enough-to-need-a-pax-record-${'z'.repeat(80)}`,
    'deep',
  ),
  file('caf\u00e9/\u65e5\u672c\u8a9e.txt', 'unicode'),
  file('sub-second', 'x', { mtime: 1_700_000_000.25 }),
  file('old', 'y', { mtime: -86_400 }),
  file('xattrs', 'z', {
    xattrs: {
      'security.capability': Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0]),
      'user.note': 'hi',
      'user.empty': '',
    },
  }),
  {
    path: 'etc/hosts-link',
    type: 'hardlink',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 1_700_000_000,
    linkname: 'etc/hosts',
  },
  {
    path: 'link-abs',
    type: 'symlink',
    mode: 0o777,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 1_700_000_000,
    linkname: '/usr/bin/env',
  },
  {
    path: 'link-long',
    type: 'symlink',
    mode: 0o777,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 1_700_000_000,
    linkname: `../${'t'.repeat(150)}`,
  },
  {
    path: 'dev/null',
    type: 'char',
    mode: 0o666,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 1_700_000_000,
    devmajor: 1,
    devminor: 3,
  },
  {
    path: 'dev/sda',
    type: 'block',
    mode: 0o660,
    uid: 0,
    gid: 6,
    size: 0,
    mtime: 1_700_000_000,
    devmajor: 8,
    devminor: 0,
  },
  {
    path: 'dev/big',
    type: 'char',
    mode: 0o600,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 1_700_000_000,
    devmajor: 2_097_152,
    devminor: 5,
  },
  { path: 'run/fifo', type: 'fifo', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 },
];

describe('writer → reader round trip', () => {
  test('every field comes back, whatever the chunking', async () => {
    const tar = await collect(tarStream(entries));
    assert.equal(tar.length % 512, 0);
    assert.ok(tar.subarray(-1024).equals(Buffer.alloc(1024)), 'ends with two zero blocks');
    for (const chunkSize of [1, 7, 512, 65536]) {
      const back = await readBack(tar, chunkSize);
      assert.equal(back.length, entries.length);
      for (const [i, want] of entries.entries()) {
        const got = back[i]!;
        const path = want.type === 'dir' ? `${want.path}/` : want.path;
        assert.equal(got.path, path);
        assert.equal(got.type, want.type, path);
        assert.equal(got.mode, want.mode & 0o7777, path);
        assert.equal(got.uid, want.uid, path);
        assert.equal(got.gid, want.gid, path);
        assert.equal(got.mtime, want.mtime, path);
        assert.equal(got.uname, '');
        assert.equal(got.gname, '');
        assert.equal(got.size, want.type === 'file' ? want.size : 0, path);
        assert.equal(got.linkname, want.linkname ?? '', path);
        assert.equal(got.devmajor, want.devmajor ?? 0, path);
        assert.equal(got.devminor, want.devminor ?? 0, path);
        if (want.type === 'file') {
          assert.deepEqual(got.content, Buffer.concat((await want.open!()) as Buffer[]), path);
        }
        const xattrs = Object.fromEntries(
          Object.entries(want.xattrs ?? {}).map(([k, v]) => [k, Buffer.from(v)]),
        );
        assert.deepEqual(got.xattrs, xattrs, path);
      }
    }
  });

  test('a size of 8 GiB or more travels in PAX (header checked without writing the body)', async () => {
    const size = 10 * 2 ** 30 + 3;
    const header = encodeEntryHeader({
      path: 'huge',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size,
      mtime: 0,
    });
    const it = readTar(bytesOf(header))[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.done, false);
    assert.equal(first.value?.size, size);
    assert.equal(first.value?.pax.get('size')?.toString(), String(size));
    await assert.rejects(
      it.next(),
      (e) => isBuilderError(e) && e.code === 'EINVAL' && /truncated/.test(e.message),
    );
  });

  test('file bodies are checked against their declared size (EPRECONDITION)', async () => {
    const short = file('short', 'abc', { size: 4 });
    await assert.rejects(
      collect(generateTar([short])),
      (e) => isBuilderError(e) && e.code === 'EPRECONDITION',
    );
    const long = file('long', 'abcde', { size: 4 });
    await assert.rejects(
      collect(generateTar([long])),
      (e) => isBuilderError(e) && e.code === 'EPRECONDITION',
    );
  });

  test('the writer refuses absolute paths, "..", NUL, empty names and hardlinks without targets', async () => {
    const bad: TarWriterEntry[] = [
      file('/etc/passwd', ''),
      file('a/../../b', ''),
      file('a\0b', ''),
      file('./', ''),
      { path: 'h', type: 'hardlink', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 },
      { path: 'h', type: 'hardlink', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, linkname: '../x' },
      file('neg-uid', '', { uid: -1 }),
    ];
    for (const entry of bad) {
      await assert.rejects(
        collect(generateTar([entry])),
        (e) => isBuilderError(e) && e.code === 'EINVAL',
        entry.path,
      );
    }
  });

  test('paths are normalized: "./a//b/" → "a/b", directories get one trailing slash', async () => {
    const back = await readBack(
      await collect(
        tarStream([
          { path: './d//e/', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 },
          file('./d//e/f', 'x'),
        ]),
      ),
    );
    assert.deepEqual(
      back.map((e) => e.path),
      ['d/e/', 'd/e/f'],
    );
  });

  test('a Node Readable works as a body', async () => {
    const { Readable } = await import('node:stream');
    const entry = file('r', '', {
      size: 6,
      open: () => Readable.from([Buffer.from('abc'), Buffer.from('def')]),
    });
    const back = await readBack(await collect(tarStream([entry])));
    assert.equal(back[0]?.content.toString(), 'abcdef');
  });
});
