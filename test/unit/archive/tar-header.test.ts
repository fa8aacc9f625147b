import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BLOCK_SIZE,
  computeChecksum,
  decodeHeader,
  decodeNumeric,
  encodeHeader,
  encodeNumeric,
  encodePlainHeaderInto,
  MAX_OCTAL_ID,
  MAX_OCTAL_SIZE,
  splitUstarPath,
  type UstarFields,
} from '../../../src/archive/tar-header.js';
import { isBuilderError } from '../../../src/errors.js';

const fields: UstarFields = {
  name: 'usr/bin/env',
  mode: 0o755,
  uid: 1000,
  gid: 1000,
  size: 12345,
  mtime: 1_700_000_000,
  typeflag: '0',
  linkname: '',
  uname: '',
  gname: '',
  devmajor: 0,
  devminor: 0,
};

describe('numeric fields', () => {
  test('octal with a NUL terminator while the value fits', () => {
    const buf = Buffer.alloc(12);
    encodeNumeric(buf, 0, 12, 0o644);
    assert.equal(buf.toString('latin1'), '00000000644\0');
    encodeNumeric(buf, 0, 12, MAX_OCTAL_SIZE);
    assert.equal(buf.toString('latin1'), '77777777777\0');
    assert.equal(decodeNumeric(buf, 0, 12), MAX_OCTAL_SIZE);
  });

  test('base-256 beyond the octal range, positive and negative', () => {
    const buf = Buffer.alloc(12);
    for (const v of [MAX_OCTAL_SIZE + 1, 10 * 2 ** 30, Number.MAX_SAFE_INTEGER, -1, -1_000_000_000]) {
      encodeNumeric(buf, 0, 12, v);
      assert.equal(buf[0], v < 0 ? 0xff : 0x80, `marker for ${v}`);
      assert.equal(decodeNumeric(buf, 0, 12), v);
    }
    const id = Buffer.alloc(8);
    encodeNumeric(id, 0, 8, MAX_OCTAL_ID + 1);
    assert.equal(id[0], 0x80);
    assert.equal(decodeNumeric(id, 0, 8), MAX_OCTAL_ID + 1);
  });

  test('octal with leading spaces and trailing space/NUL, as old tars write', () => {
    assert.equal(decodeNumeric(Buffer.from('   644 \0', 'latin1'), 0, 8), 0o644);
    assert.equal(decodeNumeric(Buffer.alloc(8), 0, 8), 0);
    assert.throws(
      () => decodeNumeric(Buffer.from('0000899\0', 'latin1'), 0, 8),
      (e) => isBuilderError(e) && e.code === 'EINVAL',
    );
  });
});

describe('ustar path split', () => {
  test('short names stay whole; long ones split at a slash', () => {
    assert.deepEqual(splitUstarPath('a/b'), { prefix: '', name: 'a/b' });
    const long = `${'d'.repeat(120)}/${'f'.repeat(90)}`;
    assert.deepEqual(splitUstarPath(long), { prefix: 'd'.repeat(120), name: 'f'.repeat(90) });
    assert.equal(splitUstarPath('x'.repeat(101)), undefined);
    assert.equal(splitUstarPath(`${'d'.repeat(160)}/f`), undefined);
  });
});

describe('header blocks', () => {
  test('encode → decode round trip, checksum of six octal digits, NUL, space', () => {
    const block = encodeHeader(fields);
    assert.equal(block.length, BLOCK_SIZE);
    assert.equal(block.toString('latin1', 257, 265), 'ustar\u000000');
    assert.match(block.toString('latin1', 148, 156), /^[0-7]{6}\0 $/);
    const decoded = decodeHeader(block);
    assert.deepEqual(decoded, { ...fields, format: 'ustar' });
  });

  test('a long path travels in prefix + name', () => {
    const name = `${'p'.repeat(150)}/${'n'.repeat(99)}`;
    const decoded = decodeHeader(encodeHeader({ ...fields, name }));
    assert.equal(decoded?.name, name);
  });

  test('a zero block is the end of the archive', () => {
    assert.equal(decodeHeader(Buffer.alloc(BLOCK_SIZE)), undefined);
  });

  test('a bad checksum is EINVAL', () => {
    const block = encodeHeader(fields);
    block[0] = 'X'.charCodeAt(0);
    assert.throws(
      () => decodeHeader(block, 1024),
      (e) => isBuilderError(e) && e.code === 'EINVAL' && /checksum/.test(e.message) && /1024/.test(e.message),
    );
  });

  test('signed checksums (historic writers) are accepted', () => {
    const block = encodeHeader({ ...fields, name: 'caf\u00e9' });
    const { signed } = computeChecksum(block);
    block.write(`${signed.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    assert.equal(decodeHeader(block)?.name, 'caf\u00e9');
  });

  test('GNU magic is recognized and its prefix area is not read as a prefix', () => {
    const block = encodeHeader(fields);
    block.write('ustar  \0', 257, 8, 'latin1');
    block.write('garbage', 345, 'latin1');
    block.write('        ', 148, 8, 'latin1');
    block.write(`${computeChecksum(block).unsigned.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    const decoded = decodeHeader(block);
    assert.equal(decoded?.format, 'gnu');
    assert.equal(decoded?.name, 'usr/bin/env');
  });

  test('non-UTF-8 names decode as Latin-1 rather than to U+FFFD', () => {
    const block = encodeHeader(fields);
    block.fill(0, 0, 100);
    Buffer.from([0x66, 0xe9, 0x65]).copy(block, 0); // "fée" in Latin-1
    block.write('        ', 148, 8, 'latin1');
    block.write(`${computeChecksum(block).unsigned.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    assert.equal(decodeHeader(block)?.name, 'f\u00e9e');
  });
});

describe('plain headers written in place', () => {
  const cases: Array<[string, '0' | '5', number, number, number, number, number]> = [
    ['usr/bin/env', '0', 0o755, 0, 0, 12345, 1_700_000_000],
    ['app/', '5', 0o4755, 1000, 1000, 0, 0],
    ['a'.repeat(100), '0', 0o7777, MAX_OCTAL_ID, MAX_OCTAL_ID, MAX_OCTAL_SIZE, MAX_OCTAL_SIZE],
    ['x', '0', 0o100644, 7, 8, 1, 1],
  ];
  for (const [name, typeflag, mode, uid, gid, size, mtime] of cases) {
    test(`${name.slice(0, 20)} (${typeflag}) is encodeHeader's block, at an offset, over old bytes`, () => {
      const buf = Buffer.alloc(3 * BLOCK_SIZE, 0xaa);
      assert.equal(encodePlainHeaderInto(buf, BLOCK_SIZE, name, typeflag, mode, uid, gid, size, mtime), true);
      const expected = encodeHeader({ ...fields, name, typeflag, mode, uid, gid, size, mtime });
      assert.deepEqual(buf.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE), expected);
      assert.ok(
        buf.subarray(0, BLOCK_SIZE).every((b) => b === 0xaa),
        'nothing before it written',
      );
      assert.ok(
        buf.subarray(2 * BLOCK_SIZE).every((b) => b === 0xaa),
        'nothing after it written',
      );
    });
  }

  test('anything a plain header cannot hold is left to encodeHeader and PAX records', () => {
    const buf = Buffer.alloc(BLOCK_SIZE, 0xaa);
    const refused: Array<[string, number, number, number, number]> = [
      ['a'.repeat(101), 0, 0, 0, 0],
      ['caf\u00e9', 0, 0, 0, 0],
      ['x', MAX_OCTAL_ID + 1, 0, 0, 0],
      ['x', 0, -1, 0, 0],
      ['x', 0, 0, MAX_OCTAL_SIZE + 1, 0],
      ['x', 0, 0, 0, 1.5],
      ['x', 0, 0, 0, -1],
    ];
    for (const [name, uid, gid, size, mtime] of refused) {
      assert.equal(encodePlainHeaderInto(buf, 0, name, '0', 0o644, uid, gid, size, mtime), false, name);
      assert.ok(
        buf.every((b) => b === 0xaa),
        `${name}: nothing written`,
      );
    }
  });
});
