// bzip2 and xz decompression (issue 4: ADD, and also load/import of compressed archives):
// tarballs compressed by Debian's `bzip2` and `xz` (scripts/install-deps.sh) are read back by
// decompressLayer byte for byte, in any chunking, with several blocks and concatenated streams;
// truncated and corrupt data are EINVAL on the stream.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { decompressLayer } from '../../../src/archive/layer-stream.js';
import { isBuilderError } from '../../../src/errors.js';
import { skipWithoutTools } from '../../helpers/image-fixtures.js';
import { bytesOf, collect, makeTar } from '../../helpers/make-tar.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// Several bzip2 blocks at -1 (100 kB each): text, random bytes, long runs.
const text = Array.from({ length: 40_000 }, (_, i) => `line ${i} of the archive\n`).join('');
const tar = makeTar([
  { path: 'srv/' },
  { path: 'srv/text.txt', body: text },
  { path: 'srv/random.bin', body: randomBytes(300 * 1024) },
  { path: 'srv/zeros.bin', body: Buffer.alloc(2 << 20) },
]);

const run = (tool: string, args: string[], input: Uint8Array) =>
  execFileSync(tool, args, { input, maxBuffer: 64 << 20 });

async function readBack(blob: Uint8Array, chunk = 65536): Promise<{ compression: string; tar: Buffer }> {
  const r = await decompressLayer(bytesOf(blob, chunk));
  return { compression: r.compression, tar: await collect(r.tar) };
}

test('bzip2: what bzip2(1) writes reads back, any block size, any chunking, concatenated streams', async (t) => {
  if (skipWithoutTools(t, 'bzip2')) return;
  for (const level of ['-1', '-9']) {
    const blob = run('bzip2', ['-c', level], tar);
    for (const chunk of [4096, 1 << 20]) {
      const r = await readBack(blob, chunk);
      assert.equal(r.compression, 'bzip2');
      assert.equal(sha256(r.tar), sha256(tar), `${level}, chunks of ${chunk}`);
    }
  }
  const small = makeTar([{ path: 'a', body: 'tiny\n' }]);
  const tiny = run('bzip2', ['-c'], small);
  assert.ok((await readBack(tiny, 1)).tar.equals(small), 'one byte at a time');
  // pbzip2 and `cat a.bz2 b.bz2` make several streams: bunzip2 reads them all.
  const half = Math.floor(tar.length / 2);
  const multi = Buffer.concat([
    run('bzip2', ['-c'], tar.subarray(0, half)),
    run('bzip2', ['-c'], tar.subarray(half)),
  ]);
  assert.equal(sha256((await readBack(multi)).tar), sha256(tar));
});

test('bzip2: truncated and corrupt data are EINVAL', async (t) => {
  if (skipWithoutTools(t, 'bzip2')) return;
  const blob = run('bzip2', ['-c', '-1'], tar);
  await assert.rejects(
    readBack(blob.subarray(0, blob.length - 100)),
    (e) => isBuilderError(e) && e.code === 'EINVAL' && /^bzip2 data is (truncated|corrupt)/.test(e.message),
  );
  await assert.rejects(
    readBack(blob.subarray(0, Math.floor(blob.length / 2))),
    (e) => isBuilderError(e) && e.code === 'EINVAL' && /^bzip2 data is (truncated|corrupt)/.test(e.message),
  );
  const corrupt = Buffer.from(blob);
  for (let i = 2000; i < 2040; i++) corrupt[i] = (corrupt[i]! ^ 0xa5) & 0xff;
  await assert.rejects(
    readBack(corrupt),
    (e) => isBuilderError(e) && e.code === 'EINVAL' && /^bzip2 data is/.test(e.message),
  );
});

test('xz: what xz(1) writes reads back, presets, CRC32/CRC64/no check, any chunking, concatenated streams', async (t) => {
  if (skipWithoutTools(t, 'xz')) return;
  for (const args of [['-0'], ['-6'], ['-9e'], ['--check=crc32'], ['--check=none'], ['-T2']]) {
    const blob = run('xz', ['-c', ...args], tar);
    for (const chunk of [4096, 1 << 20]) {
      const r = await readBack(blob, chunk);
      assert.equal(r.compression, 'xz');
      assert.equal(sha256(r.tar), sha256(tar), `${args.join(' ')}, chunks of ${chunk}`);
    }
  }
  const small = makeTar([{ path: 'a', body: 'tiny\n' }]);
  assert.ok((await readBack(run('xz', ['-c'], small), 1)).tar.equals(small), 'one byte at a time');
  const half = Math.floor(tar.length / 2);
  const multi = Buffer.concat([
    run('xz', ['-c'], tar.subarray(0, half)),
    run('xz', ['-c'], tar.subarray(half)),
  ]);
  assert.equal(sha256((await readBack(multi)).tar), sha256(tar));
});

test('xz: truncated and corrupt data are EINVAL; a SHA-256 check is refused with a hint', async (t) => {
  if (skipWithoutTools(t, 'xz')) return;
  const blob = run('xz', ['-c'], tar);
  await assert.rejects(
    readBack(blob.subarray(0, blob.length - 30)),
    (e) => isBuilderError(e) && e.code === 'EINVAL' && /^xz data is (truncated|corrupt)/.test(e.message),
  );
  const corrupt = Buffer.from(blob);
  for (let i = 500; i < 540; i++) corrupt[i] = (corrupt[i]! ^ 0xa5) & 0xff;
  await assert.rejects(
    readBack(corrupt),
    (e) => isBuilderError(e) && e.code === 'EINVAL' && /^xz data is corrupt/.test(e.message),
  );
  await assert.rejects(
    readBack(run('xz', ['-c', '--check=sha256'], tar)),
    (e) => isBuilderError(e) && e.code === 'EINVAL' && /SHA-256/.test(e.message),
  );
  // The decoder is free again after errors: a good stream still reads.
  assert.equal(sha256((await readBack(blob)).tar), sha256(tar));
});

test('xz: a stream abandoned half way releases the decoder for the next one', {
  timeout: 60_000,
}, async (t) => {
  if (skipWithoutTools(t, 'xz')) return;
  const blob = run('xz', ['-c'], tar);
  const first = await decompressLayer(bytesOf(blob));
  for await (const _ of first.tar) break; // read one chunk, then drop the stream
  const second = await readBack(blob);
  assert.equal(sha256(second.tar), sha256(tar));
});
