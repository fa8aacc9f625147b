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
