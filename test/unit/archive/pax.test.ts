import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodePaxRecords,
  encodePaxRecords,
  formatPaxTime,
  interpretPaxRecords,
  paxRecordsFor,
} from '../../../src/archive/pax.js';
import { isBuilderError } from '../../../src/errors.js';

describe('PAX records', () => {
  test('the length counts itself, across digit boundaries', () => {
    assert.equal(encodePaxRecords([['path', 'a']]).toString(), '9 path=a\n');
    for (let n = 80; n < 120; n++) {
      const value = 'v'.repeat(n);
      const text = encodePaxRecords([['k', value]]).toString();
      const length = Number(text.slice(0, text.indexOf(' ')));
      assert.equal(length, Buffer.byteLength(text), `value of ${n}`);
    }
  });

  test('decode returns raw values; later records win; trailing NULs tolerated', () => {
    const data = Buffer.concat([
      encodePaxRecords([
        ['path', 'first'],
        ['SCHILY.xattr.user.bin', Buffer.from([0, 1, 2, 0xff])],
        ['path', 'caf\u00e9/\u65e5\u672c'],
      ]),
      Buffer.alloc(7),
    ]);
    const records = decodePaxRecords(data);
    assert.equal(records.get('path')?.toString('utf8'), 'caf\u00e9/\u65e5\u672c');
    assert.deepEqual([...(records.get('SCHILY.xattr.user.bin') ?? [])], [0, 1, 2, 0xff]);
  });

  test('malformed records are EINVAL', () => {
    for (const bad of ['x path=a\n', '100 path=a\n', '9 path=a!', '9 patha\n\n']) {
      assert.throws(
        () => decodePaxRecords(Buffer.from(bad)),
        (e) => isBuilderError(e) && e.code === 'EINVAL',
        bad,
      );
    }
  });

  test('GNU sparse records are refused', () => {
    const records = decodePaxRecords(encodePaxRecords([['GNU.sparse.major', '1']]));
    assert.throws(
      () => interpretPaxRecords(records),
      (e) => isBuilderError(e) && e.code === 'EINVAL',
    );
  });

  test('bsdtar xattrs (LIBARCHIVE.xattr, URL-encoded name, base64 value) are read', () => {
    const records = decodePaxRecords(
      encodePaxRecords([['LIBARCHIVE.xattr.user.a%3Db', Buffer.from('hi').toString('base64')]]),
    );
    assert.equal(interpretPaxRecords(records).xattrs['user.a=b']?.toString(), 'hi');
  });
});

describe('which records an entry needs, in a fixed order', () => {
  const base = { path: 'a', size: 0, uid: 0, gid: 0, mtime: 1 };

  test('none for a plain entry', () => {
    assert.deepEqual(paxRecordsFor(base).records, []);
  });

  test('path, linkpath, size, uid, gid, mtime, then xattrs sorted', () => {
    const { records, ustar } = paxRecordsFor({
      path: `\u00e9/${'x'.repeat(200)}`,
      linkname: 'l'.repeat(101),
      size: 8 * 2 ** 30,
      uid: 3_000_000,
      gid: 2_097_152,
      mtime: 1.5,
      xattrs: { 'user.b': 'B', 'security.capability': Buffer.from([1]), 'user.a': 'A' },
    });
    assert.deepEqual(
      records.map(([k]) => k),
      [
        'path',
        'linkpath',
        'size',
        'uid',
        'gid',
        'mtime',
        'SCHILY.xattr.security.capability',
        'SCHILY.xattr.user.a',
        'SCHILY.xattr.user.b',
      ],
    );
    assert.ok(/^[\x20-\x7e]*$/.test(ustar.name) && Buffer.byteLength(ustar.name) <= 100);
  });

  test('non-ASCII names need a path record even when short', () => {
    assert.deepEqual(paxRecordsFor({ ...base, path: '\u00e9' }).records, [['path', '\u00e9']]);
  });

  test('sizes up to 8 GiB - 1 fit the header; 8 GiB needs a record', () => {
    assert.deepEqual(paxRecordsFor({ ...base, size: 8 * 2 ** 30 - 1 }).records, []);
    assert.deepEqual(paxRecordsFor({ ...base, size: 8 * 2 ** 30 }).records, [['size', '8589934592']]);
  });
});

describe('PAX times', () => {
  test('integers plain, fractions shortest, never exponents', () => {
    assert.equal(formatPaxTime(1_700_000_000), '1700000000');
    assert.equal(formatPaxTime(1_700_000_000.5), '1700000000.5');
    assert.equal(formatPaxTime(1_700_000_000.123456), '1700000000.123456');
    assert.equal(formatPaxTime(-1.25), '-1.25');
    assert.equal(formatPaxTime(5e-7), '0.0000005');
    assert.equal(Number(formatPaxTime(1_700_000_000.123456)), 1_700_000_000.123456);
  });
});
