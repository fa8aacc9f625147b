// A 100 MB file goes through writer → reader and writer → gzip without being held in memory.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { compressLayer } from '../../../src/archive/layer-stream.js';
import { packDirectoryToTar } from '../../../src/archive/pack-directory.js';
import { readTar } from '../../../src/archive/tar-reader.js';
import { withTempDir } from '../../helpers/make-tar.js';

const SIZE = 100 * 1024 * 1024;

/** A sparse file with a few non-zero islands, so content errors would show. */
async function sparseFile(path: string): Promise<void> {
  const fh = await open(path, 'w');
  await fh.truncate(SIZE);
  for (const at of [0, 12_345_678, SIZE - 7]) await fh.write(Buffer.from('island!'), 0, 7, at);
  await fh.close();
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

test('100 MB: pack → read, hash the body, RSS stays low', async () => {
  await withTempDir(async (dir) => {
    await sparseFile(join(dir, 'big'));
    const expected = createHash('sha256');
    const fh = await open(join(dir, 'big'));
    for await (const chunk of fh.createReadStream()) expected.update(chunk);
    const before = process.memoryUsage.rss();
    const watch = peakRss();
    let seen = 0;
    for await (const entry of readTar(packDirectoryToTar(dir))) {
      assert.equal(entry.path, 'big');
      assert.equal(entry.size, SIZE);
      const hash = createHash('sha256');
      for await (const chunk of entry.body) hash.update(chunk);
      assert.equal(hash.digest('hex'), expected.digest('hex'));
      seen++;
    }
    const grew = watch.stop() - before;
    assert.equal(seen, 1);
    assert.ok(grew < 40 * 1024 * 1024, `RSS grew by ${(grew / 1048576).toFixed(1)} MiB`);
  });
});

test('100 MB: pack → compressLayer, RSS stays low and sizes add up', async () => {
  await withTempDir(async (dir) => {
    await sparseFile(join(dir, 'big'));
    let written = 0;
    const sink = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _e, cb) {
        written += chunk.length;
        setImmediate(cb); // a slow-ish consumer: backpressure must hold the producer
      },
    });
    const before = process.memoryUsage.rss();
    const watch = peakRss();
    const result = await compressLayer(packDirectoryToTar(dir), sink);
    const grew = watch.stop() - before;
    assert.equal(result.uncompressedSize, 512 + SIZE + 1024);
    assert.equal(result.size, written);
    assert.ok(result.size < SIZE / 100, 'zeros compress');
    assert.ok(grew < 40 * 1024 * 1024, `RSS grew by ${(grew / 1048576).toFixed(1)} MiB`);
  });
});
