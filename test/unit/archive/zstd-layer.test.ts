// zstd layers (issue 3): compressLayer writes one zstd frame in the same single pass as gzip,
// with diffID, digest and size checked against independent hashing; the zstd CLI (Debian's
// `zstd`, installed by scripts/install-deps.sh) reads what we write and we read what it writes;
// truncation and corruption are EINVAL; writeLayer gives OCI zstd descriptors and refuses Docker
// media types for zstd.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import {
  compressLayer,
  DEFAULT_ZSTD_LEVEL,
  decompressLayer,
  detectCompression,
  MAX_ZSTD_LEVEL,
} from '../../../src/archive/layer-stream.js';
import { isBuilderError } from '../../../src/errors.js';
import { writeLayer } from '../../../src/image/write-layer.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import { skipWithoutTools, withStore } from '../../helpers/image-fixtures.js';
import { bytesOf, collect, makeTar, withTempDir } from '../../helpers/make-tar.js';

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

// Text that compresses, random bytes that do not, and an empty file: about 1.3 MB of tar.
const tar = makeTar([
  { path: 'etc/' },
  { path: 'etc/motd', body: 'hello zstd\n'.repeat(50_000) },
  { path: 'bin/blob', body: randomBytes(700 * 1024), mode: 0o755 },
  { path: 'empty', body: '' },
]);

async function zstdOf(input: Uint8Array, level?: number): Promise<{ blob: Buffer; digest: string }> {
  const { sink, bytes } = memorySink();
  const r = await compressLayer(bytesOf(input, 8192), sink, {
    compression: 'zstd',
    ...(level === undefined ? {} : { level }),
  });
  return { blob: bytes(), digest: r.digest };
}

test('zstd: diffId, digest and sizes agree with hashing the bytes independently, and it reads back', async () => {
  const { sink, bytes } = memorySink();
  const r = await compressLayer(bytesOf(tar, 333), sink, { compression: 'zstd' });
  const blob = bytes();
  assert.equal(r.compression, 'zstd');
  assert.equal(r.diffId, sha256(tar));
  assert.equal(r.uncompressedSize, tar.length);
  assert.equal(r.digest, sha256(blob));
  assert.equal(r.size, blob.length);
  assert.ok(blob.length < tar.length, 'compressed');
  assert.equal(detectCompression(blob), 'zstd');
  for (const chunk of [7, 4096, 1 << 20]) {
    const back = await decompressLayer(bytesOf(blob, chunk));
    assert.equal(back.compression, 'zstd');
    assert.ok((await collect(back.tar)).equals(tar), `chunks of ${chunk}`);
  }
});

test('zstd levels: 3 by default (as BuildKit), 0 means the default, higher levels compress more, output is deterministic', async () => {
  assert.equal(DEFAULT_ZSTD_LEVEL, 3);
  assert.equal(MAX_ZSTD_LEVEL, 22);
  const byDefault = await zstdOf(tar);
  assert.equal((await zstdOf(tar, 3)).digest, byDefault.digest);
  assert.equal((await zstdOf(tar, 0)).digest, byDefault.digest);
  assert.equal((await zstdOf(tar)).digest, byDefault.digest, 'same input, same blob');
  const fastest = await zstdOf(tar, 1);
  const best = await zstdOf(tar, 19);
  assert.ok(best.blob.length < fastest.blob.length, `${best.blob.length} < ${fastest.blob.length}`);
  // Every level reads back to the same tar.
  for (const { blob } of [fastest, best]) {
    assert.ok((await collect((await decompressLayer(bytesOf(blob))).tar)).equals(tar));
  }
});

test('an empty tar stream is a valid zstd frame', async () => {
  const { blob } = await zstdOf(Buffer.alloc(0));
  assert.equal(detectCompression(blob), 'zstd');
  assert.equal((await collect((await decompressLayer(bytesOf(blob))).tar)).length, 0);
});

test('the zstd CLI decompresses what we write, with our checksum verified', async (t) => {
  if (skipWithoutTools(t, 'zstd')) return;
  await withTempDir(async (dir) => {
    for (const level of [1, 3, 19]) {
      const { blob } = await zstdOf(tar, level);
      const out = execFileSync('zstd', ['-d', '-c', '-q'], { input: blob, maxBuffer: 64 << 20 });
      assert.equal(sha256(out), sha256(tar), `level ${level}`);
      // `zstd -lv` (files only) lists the frame and its XXH64 content checksum.
      const file = join(dir, `layer-${level}.tar.zst`);
      await writeFile(file, blob);
      const listing = execFileSync('zstd', ['-lv', file], { encoding: 'utf8' });
      assert.match(listing, /Check:\s+XXH64/, listing);
      execFileSync('zstd', ['-t', '-q', file]);
    }
  });
});

test('we read what the zstd CLI writes: levels, no checksum, several frames, long mode', async (t) => {
  if (skipWithoutTools(t, 'zstd')) return;
  const cli = (...args: string[]) =>
    execFileSync('zstd', ['-c', '-q', ...args], { input: tar, maxBuffer: 64 << 20 });
  const cases: Array<[string, Buffer]> = [
    ['-1', cli('-1')],
    ['-19', cli('-19')],
    ['--no-check', cli('--no-check')],
    ['--long=27', cli('--long=27')],
    ['two frames', Buffer.concat([cli('-3'), cli('-3')])],
  ];
  for (const [name, blob] of cases) {
    const want = name === 'two frames' ? Buffer.concat([tar, tar]) : tar;
    for (const chunk of [1000, 1 << 16]) {
      const r = await decompressLayer(bytesOf(blob, chunk));
      assert.equal(r.compression, 'zstd', name);
      const got = await collect(r.tar);
      assert.equal(sha256(got), sha256(want), `${name}, chunks of ${chunk}`);
    }
  }
});

test('truncated or corrupt zstd is EINVAL on the stream', async () => {
  const { blob } = await zstdOf(tar);
  const truncated = blob.subarray(0, blob.length - 10);
  await assert.rejects(
    collect((await decompressLayer(bytesOf(truncated))).tar),
    (e) => isBuilderError(e) && e.code === 'EINVAL' && /zstd data is truncated/.test(e.message),
  );
  const corrupt = Buffer.from(blob);
  for (let i = 100; i < 120; i++) corrupt[i] = (corrupt[i]! ^ 0x5a) & 0xff;
  await assert.rejects(
    collect((await decompressLayer(bytesOf(corrupt))).tar),
    (e) => isBuilderError(e) && e.code === 'EINVAL' && /zstd data is corrupt/.test(e.message),
  );
  // A broken checksum at the very end is caught too.
  const badChecksum = Buffer.from(blob);
  badChecksum[badChecksum.length - 1] = (badChecksum[badChecksum.length - 1]! ^ 1) & 0xff;
  await assert.rejects(
    collect((await decompressLayer(bytesOf(badChecksum))).tar),
    (e) => isBuilderError(e) && e.code === 'EINVAL',
  );
});

test('errors of the source reach a zstd compressor and decompressor', async () => {
  const failing = () =>
    new Readable({
      read() {
        this.destroy(new Error('source broke'));
      },
    });
  await assert.rejects(compressLayer(failing(), memorySink().sink, { compression: 'zstd' }), /source broke/);
  const { blob } = await zstdOf(tar);
  async function* halfThenFail() {
    yield blob.subarray(0, 100);
    throw new Error('disk gone');
  }
  await assert.rejects(collect((await decompressLayer(halfThenFail())).tar), /disk gone/);
});

test('writeLayer: zstd gives an OCI zstd descriptor of the stored blob', async () => {
  await withStore(async (store) => {
    const layer = await writeLayer(store.content, bytesOf(tar), { compression: 'zstd' });
    assert.equal(layer.descriptor.mediaType, MediaTypes.ociLayerZstd);
    assert.equal(layer.descriptor.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    assert.equal(layer.diffId, sha256(tar));
    assert.equal(layer.uncompressedSize, tar.length);
    const stored = await store.content.readBytes(layer.descriptor.digest);
    assert.equal(sha256(stored), layer.descriptor.digest);
    assert.equal(stored.length, layer.descriptor.size);
    assert.ok((await collect((await decompressLayer(bytesOf(stored))).tar)).equals(tar));
  });
});

test('writeLayer: zstd with Docker media types is refused (EINVAL) before the tar is read', async () => {
  await withStore(async (store) => {
    let read = false;
    const source = new Readable({
      read() {
        read = true;
        this.push(null);
      },
    });
    await assert.rejects(
      writeLayer(store.content, source, { compression: 'zstd', mediaTypes: 'docker' }),
      (e) => isBuilderError(e) && e.code === 'EINVAL' && /OCI media types/.test(e.message),
    );
    assert.equal(read, false);
  });
});
