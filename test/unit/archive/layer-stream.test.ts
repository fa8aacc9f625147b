import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  compressLayer,
  DEFAULT_GZIP_LEVEL,
  decompressLayer,
  detectCompression,
} from '../../../src/archive/layer-stream.js';
import { isBuilderError } from '../../../src/errors.js';
import { bytesOf, collect, makeTar } from '../../helpers/make-tar.js';

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function memorySink(): { sink: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  return {
    sink: new Writable({
      write(chunk, _e, cb) {
        parts.push(chunk);
        cb();
      },
    }),
    bytes: () => Buffer.concat(parts),
  };
}

const tar = makeTar([{ path: 'etc/' }, { path: 'etc/motd', body: 'hello\n'.repeat(1000) }]);

test('diffId, digest and sizes agree with hashing the bytes independently', async () => {
  const { sink, bytes } = memorySink();
  const r = await compressLayer(bytesOf(tar, 333), sink);
  const blob = bytes();
  assert.equal(r.compression, 'gzip');
  assert.equal(r.diffId, sha256(tar));
  assert.equal(r.uncompressedSize, tar.length);
  assert.equal(r.digest, sha256(blob));
  assert.equal(r.size, blob.length);
  assert.ok(gunzipSync(blob).equals(tar));
  // The default level is 6 (BuildKit's), and zlib at level 6 gives the same bytes.
  assert.equal(DEFAULT_GZIP_LEVEL, 6);
  assert.ok(blob.equals(gzipSync(tar, { level: 6 })));
});

test("compression 'none': digest = diffId, the tar itself is stored", async () => {
  const { sink, bytes } = memorySink();
  const r = await compressLayer(bytesOf(tar), sink, { compression: 'none' });
  assert.equal(r.digest, r.diffId);
  assert.equal(r.size, tar.length);
  assert.ok(bytes().equals(tar));
});

test('bad levels and compressions are EINVAL, before the tar is read', async () => {
  for (const options of [
    { level: 10 },
    { level: -1 },
    { level: 1.5 },
    { compression: 'zstd' as const, level: 23 },
    { compression: 'zstd' as const, level: -3 },
    { compression: 'brotli' as never },
  ]) {
    let read = false;
    const source = new Readable({
      read() {
        read = true;
        this.push(null);
      },
    });
    await assert.rejects(
      compressLayer(source, memorySink().sink, options),
      (e) => isBuilderError(e) && e.code === 'EINVAL',
      JSON.stringify(options),
    );
    assert.equal(read, false, JSON.stringify(options));
  }
});

test('errors of the source and of the sink reject', async () => {
  const failing = new Readable({
    read() {
      this.destroy(new Error('source broke'));
    },
  });
  await assert.rejects(compressLayer(failing, memorySink().sink), /source broke/);
  const badSink = new Writable({
    write(_c, _e, cb) {
      cb(new Error('disk full'));
    },
  });
  await assert.rejects(compressLayer(bytesOf(tar), badSink), /disk full/);
});

test('an aborted signal rejects', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    compressLayer(bytesOf(tar), memorySink().sink, { signal: controller.signal }),
    /abort/i,
  );
});

test('detectCompression by magic bytes', () => {
  assert.equal(detectCompression(gzipSync(Buffer.from('x'))), 'gzip');
  assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])), 'zstd');
  assert.equal(detectCompression(Buffer.from('BZh91AY')), 'bzip2');
  assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), 'xz');
  assert.equal(detectCompression(tar), 'none');
  assert.equal(detectCompression(Buffer.alloc(0)), 'none');
});

test('decompressLayer: gzip (even in 1-byte chunks and concatenated members) and plain', async () => {
  const gz = gzipSync(tar);
  for (const chunk of [1, 5, 1 << 16]) {
    const { compression, tar: out } = await decompressLayer(bytesOf(gz, chunk));
    assert.equal(compression, 'gzip');
    assert.ok((await collect(out)).equals(tar));
  }
  const half = Math.floor(tar.length / 2);
  const multi = Buffer.concat([gzipSync(tar.subarray(0, half)), gzipSync(tar.subarray(half))]);
  assert.ok((await collect((await decompressLayer(bytesOf(multi))).tar)).equals(tar));
  const plain = await decompressLayer(bytesOf(tar, 3));
  assert.equal(plain.compression, 'none');
  assert.ok((await collect(plain.tar)).equals(tar));
  const empty = await decompressLayer(bytesOf(Buffer.alloc(0)));
  assert.equal((await collect(empty.tar)).length, 0);
});

test('decompressLayer: corrupt zstd, bzip2 and xz are EINVAL on the stream; corrupt gzip errors too', async () => {
  for (const [head, compression] of [
    [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
    [[0x42, 0x5a, 0x68, 0x39], 'bzip2'],
    [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 'xz'],
  ] as const) {
    const r = await decompressLayer(bytesOf(Buffer.concat([Buffer.from(head), Buffer.alloc(100, 7)])));
    assert.equal(r.compression, compression);
    await assert.rejects(
      collect(r.tar),
      (e) => isBuilderError(e) && e.code === 'EINVAL' && e.message.startsWith(`${compression} data is`),
      compression,
    );
  }
  const corrupt = gzipSync(tar);
  corrupt[corrupt.length - 6] = (corrupt[corrupt.length - 6]! + 1) & 0xff; // CRC
  const { tar: out } = await decompressLayer(bytesOf(corrupt));
  await assert.rejects(collect(out));
});
