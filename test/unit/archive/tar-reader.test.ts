// The reader on archives the writer would never produce: GNU long names, global PAX headers,
// truncation, bad checksums, unconsumed bodies, trailing data.

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { readTar } from '../../../src/archive/tar-reader.js';
import { isBuilderError } from '../../../src/errors.js';
import {
  bytesOf,
  collect,
  gnuLongEntry,
  makeTar,
  paxEntry,
  rawEntry,
  readBack,
} from '../../helpers/make-tar.js';

const isEinval = (re?: RegExp) => (e: unknown) =>
  isBuilderError(e) && e.code === 'EINVAL' && (!re || re.test(e.message));

describe('GNU and PAX extensions', () => {
  test('GNU L/K long name and link apply to the next entry only', async () => {
    const longName = `${'n'.repeat(300)}/file`;
    const longLink = `${'l'.repeat(300)}/target`;
    const tar = makeTar([
      gnuLongEntry('L', longName),
      gnuLongEntry('K', longLink),
      rawEntry({ name: 'truncated-name', typeflag: '2', linkname: 'truncated-link' }),
      { path: 'next', body: 'x' },
    ]);
    const back = await readBack(tar);
    assert.deepEqual(
      back.map((e) => [e.path, e.type, e.linkname]),
      [
        [longName, 'symlink', longLink],
        ['next', 'file', ''],
      ],
    );
  });

  test('PAX records override GNU long names; global records apply until changed', async () => {
    const tar = makeTar([
      paxEntry(
        [
          ['uid', '4242'],
          ['gname', 'staff'],
        ],
        'g',
      ),
      gnuLongEntry('L', 'from-gnu'),
      paxEntry([['path', 'from-pax']]),
      rawEntry({ name: 'from-header' }),
      rawEntry({ name: 'second', uid: 7 }),
      paxEntry([['uid', '']], 'g'),
      rawEntry({ name: 'third', uid: 7 }),
    ]);
    const back = await readBack(tar);
    assert.deepEqual(
      back.map((e) => [e.path, e.uid, e.gname]),
      [
        ['from-pax', 4242, 'staff'],
        ['second', 4242, 'staff'],
        ['third', 7, 'staff'],
      ],
    );
  });

  test('a PAX size overrides the header size', async () => {
    const tar = makeTar([paxEntry([['size', '5']]), rawEntry({ name: 'f', size: 0 }, Buffer.from('hello'))]);
    assert.equal((await readBack(tar))[0]?.content.toString(), 'hello');
  });

  test('base-256 numbers in headers (GNU tar for large uids and sizes)', async () => {
    const tar = makeTar([rawEntry({ name: 'f', uid: 2 ** 40, gid: 2 ** 33, mtime: -5 }, Buffer.from('z'))]);
    const [e] = await readBack(tar);
    assert.deepEqual([e?.uid, e?.gid, e?.mtime], [2 ** 40, 2 ** 33, -5]);
  });

  test('old-style directories (regular typeflag, trailing slash), contiguous files, unknown types', async () => {
    const tar = makeTar([
      rawEntry({ name: 'olddir/', typeflag: '\0' }),
      rawEntry({ name: 'contig', typeflag: '7' }, Buffer.from('c')),
      rawEntry({ name: 'weird', typeflag: 'Q' }, Buffer.from('q')),
      rawEntry({ name: 'label', typeflag: 'V' }),
      rawEntry({ name: 'dumpdir/', typeflag: 'D' }, Buffer.from('Yfile\0\0')),
      rawEntry({ name: 'after' }),
    ]);
    assert.deepEqual(
      (await readBack(tar)).map((e) => [e.path, e.type, e.content.toString()]),
      [
        ['olddir/', 'dir', ''],
        ['contig', 'file', 'c'],
        ['weird', 'file', 'q'],
        ['dumpdir/', 'dir', ''],
        ['after', 'file', ''],
      ],
    );
  });

  test('GNU sparse entries are refused', async () => {
    await assert.rejects(readBack(makeTar([rawEntry({ name: 's', typeflag: 'S' })])), isEinval(/sparse/));
  });
});

describe('damaged input is an error, never a hang', () => {
  const good = makeTar([
    { path: 'a', body: 'x'.repeat(1000) },
    { path: 'b', body: 'y' },
  ]);

  test('a bad checksum is EINVAL', async () => {
    const bad = Buffer.from(good);
    bad[10] = 0x41;
    await assert.rejects(readBack(bad), isEinval(/checksum/));
  });

  test('not a tar at all is EINVAL', async () => {
    await assert.rejects(readBack(Buffer.from('<html>'.repeat(200))), isEinval());
  });

  for (const cut of [100, 512, 700, 1536, 1600, 2048, good.length - 1024]) {
    test(`cut at byte ${cut} is EINVAL "truncated"`, async () => {
      await assert.rejects(readBack(good.subarray(0, cut)), isEinval(/truncated/));
    });
  }

  test('truncation inside a body surfaces on the body stream too', async () => {
    const it = readTar(bytesOf(good.subarray(0, 800)))[Symbol.asyncIterator]();
    const first = await it.next();
    await assert.rejects(collect(first.value!.body), isEinval(/truncated/));
    await assert.rejects(it.next(), isEinval(/truncated/));
  });

  test('missing end marker is accepted on request; an empty stream is an empty archive', async () => {
    const noEnd = good.subarray(0, good.length - 1024);
    await assert.rejects(readBack(noEnd), isEinval(/end-of-archive/));
    let n = 0;
    for await (const e of readTar(bytesOf(noEnd), { allowMissingEnd: true })) {
      await collect(e.body);
      n++;
    }
    assert.equal(n, 2);
    assert.deepEqual(await readBack(Buffer.alloc(0)), []);
  });

  test('an extended header right before the end is EINVAL', async () => {
    await assert.rejects(readBack(makeTar([paxEntry([['path', 'x']])])), isEinval());
  });

  test('oversized extended headers are refused before being buffered', async () => {
    const big = rawEntry({ name: 'x', typeflag: 'x', size: 1 << 30 });
    const it = readTar(bytesOf(big), { maxMetadataSize: 1 << 20 })[Symbol.asyncIterator]();
    await assert.rejects(it.next(), isEinval(/too large/));
  });
});

describe('streaming behaviour', () => {
  test('unconsumed and half-consumed bodies are skipped when advancing', async () => {
    const tar = makeTar([
      { path: 'a', body: 'A'.repeat(100_000) },
      { path: 'b', body: 'B'.repeat(70_000) },
      { path: 'c', body: 'C' },
    ]);
    const seen: string[] = [];
    for await (const e of readTar(bytesOf(tar, 1000))) {
      seen.push(e.path);
      if (e.path === 'b') {
        // read one chunk, then walk away
        const it = e.body[Symbol.asyncIterator]();
        await it.next();
      }
      if (e.path === 'c') assert.equal((await collect(e.body)).toString(), 'C');
    }
    assert.deepEqual(seen, ['a', 'b', 'c']);
  });

  test('data after the end marker is drained (upstream verifiers see EOF)', async () => {
    let drained = false;
    async function* source() {
      yield makeTar([{ path: 'a', body: 'x' }]);
      yield Buffer.alloc(10240); // record padding, as GNU tar writes
      yield Buffer.from('trailing junk');
      drained = true;
    }
    const back = await readBack(source());
    assert.equal(back.length, 1);
    assert.ok(drained);
  });

  test('breaking out of the loop closes a Readable source', async () => {
    const source = bytesOf(makeTar([{ path: 'a' }, { path: 'b' }]), 512);
    for await (const _ of readTar(source)) break;
    assert.ok(source.destroyed);
  });

  test('an aborted signal stops reading with the abort error', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(async () => {
      for await (const _ of readTar(bytesOf(makeTar([{ path: 'a' }])), { signal: controller.signal })) {
      }
    }, /abort/i);
  });

  test('a source error propagates', async () => {
    const source = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    await assert.rejects(readBack(source), /disk on fire/);
  });
});
