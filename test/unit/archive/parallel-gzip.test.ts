import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ParallelGzip } from '../../../src/archive/parallel-gzip.js';

async function compress(input: Buffer, blockSize: number, chunk = 64 * 1024): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(input.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const c of Readable.from(parts).pipe(new ParallelGzip(6, blockSize))) out.push(c as Buffer);
  return Buffer.concat(out);
}

test('members in order decompress to the input, whatever the chunking', async () => {
  const text = Buffer.from('layer digest build cache store '.repeat(100_000));
  const input = Buffer.concat([randomBytes(3 << 20), text, randomBytes(12_345)]);
  const out = await compress(input, 1 << 20);
  assert.ok(gunzipSync(out).equals(input));
  const other = await compress(input, 1 << 20, 7777);
  assert.ok(other.equals(out), 'the same input gives the same bytes, whatever the chunk sizes');
  // GNU gzip reads it as one stream too (a judge outside Node).
  const viaGzip = execFileSync('gzip', ['-dc'], { input: out, maxBuffer: 64 << 20 });
  assert.equal(
    createHash('sha256').update(viaGzip).digest('hex'),
    createHash('sha256').update(input).digest('hex'),
  );
});

test('an empty input is one valid empty member; a tiny one is one member', async () => {
  const empty = await compress(Buffer.alloc(0), 1 << 20);
  assert.equal(gunzipSync(empty).length, 0);
  const tiny = await compress(Buffer.from('x'), 1 << 20);
  assert.equal(gunzipSync(tiny).toString(), 'x');
});

test('incompressible blocks are stored, compressible ones deflated; sizes stay honest', async () => {
  const block = 1 << 20;
  const random = randomBytes(block);
  const text = Buffer.from('layer digest build cache store '.repeat(Math.ceil(block / 31))).subarray(
    0,
    block,
  );
  // A block that starts random and is mostly text must still be compressed.
  const mixed = Buffer.concat([randomBytes(64 * 1024), text.subarray(0, block - 64 * 1024)]);
  for (const [name, input, stored] of [
    ['random', random, true],
    ['text', text, false],
    ['mixed', mixed, false],
  ] as const) {
    const out = await compress(input, block);
    assert.ok(gunzipSync(out).equals(input), name);
    // XFL (header byte 8) is 4 when zlib wrote the member at its fastest levels (0-1), 0 at 6.
    assert.equal(out[8] === 4, stored, `${name}: XFL ${out[8]}`);
    if (stored) assert.ok(out.length < block + 200, `${name}: ${out.length} bytes, stored plus framing`);
    else assert.ok(out.length < block / 2, `${name}: ${out.length} bytes, deflated`);
  }
});
