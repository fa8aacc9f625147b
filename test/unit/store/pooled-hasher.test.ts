import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { holdBlock, OUT_BLOCK, releaseBlock, takeBlock } from '../../../src/archive/block-pool.js';
import { HashTap } from '../../../src/digest/hash-tap.js';
import { FsContentStore } from '../../../src/store/content/fs-content-store.js';
import { PooledSha256, pooledSha256 } from '../../../src/store/content/pooled-hasher.js';
import { nativeSha256, sysAvailable, sysUnavailableReason } from '../../../src/sys/index.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';
import { skipIf } from '../../integration/prereqs.js';

function reason(): string | undefined {
  if (!sysAvailable()) return `no native addon: ${sysUnavailableReason()}`;
  if (nativeSha256() === undefined) return 'this Node does not export OpenSSL SHA-256 to addons';
  return undefined;
}

/** Chunks of every size class: tiny (hashed in line), 1 MiB (on a worker), 9 MiB (over the queue limit). */
function chunks(): Buffer[] {
  const out: Buffer[] = [];
  for (const size of [0, 1, 63, 64 << 10, 1 << 20, 5, 9 << 20, 1 << 20, 1 << 20, 100, 3 << 20, 7]) {
    out.push(randomBytes(size));
  }
  return out;
}

test("pooled SHA-256: the digest of a stream is node:crypto's, whatever the chunk sizes and order of arrival", async (t) => {
  if (skipIf(t, reason())) return;
  for (let round = 0; round < 3; round++) {
    const parts = chunks();
    const expected = createHash('sha256').update(Buffer.concat(parts)).digest('hex');
    const hasher = pooledSha256();
    assert.ok(hasher instanceof PooledSha256);
    const tap = new HashTap({ hasher });
    let passed = 0;
    await pipeline(
      Readable.from(parts),
      tap,
      new Writable({
        // A slow writer: the hashing runs while it waits.
        write(chunk: Buffer, _e, callback) {
          passed += chunk.length;
          setTimeout(callback, 1);
        },
      }),
    );
    assert.equal(passed, Buffer.concat(parts).length, 'every byte is passed on, unchanged in count');
    assert.equal(tap.digest(), `sha256:${expected}`);
  }
});

test('pooled SHA-256: an empty stream, and a tap that fails on size, behave as the inline hasher', async (t) => {
  if (skipIf(t, reason())) return;
  const empty = new HashTap({ hasher: pooledSha256() as PooledSha256 });
  await pipeline(Readable.from([]), empty, new Writable({ write: (_c, _e, cb) => cb() }));
  assert.equal(empty.digest(), `sha256:${createHash('sha256').digest('hex')}`);

  const small = new HashTap({ maxSize: 10, hasher: pooledSha256() as PooledSha256 });
  await assert.rejects(
    pipeline(Readable.from([randomBytes(2 << 20)]), small, new Writable({ write: (_c, _e, cb) => cb() })),
    (err: Error & { code?: string }) => err.code === 'EDIGEST',
  );
});

test('block pool: a block comes back only when its last holder lets go', () => {
  const a = takeBlock();
  assert.equal(a.length, OUT_BLOCK);
  holdBlock(a.subarray(0, 10)); // a view counts for its block
  releaseBlock(a.subarray(5));
  const b = takeBlock();
  assert.notEqual(b.buffer, a.buffer, 'still held once');
  releaseBlock(a);
  const c = takeBlock();
  assert.equal(c.buffer, a.buffer, 'given back, then taken again');
  // Memory the pool never gave out is not counted: nothing happens.
  const other = Buffer.alloc(OUT_BLOCK);
  holdBlock(other);
  releaseBlock(other);
  assert.notEqual(takeBlock().buffer, other.buffer);
  releaseBlock(b);
  releaseBlock(c);
});

test('content store: recycled blocks are not reused before they are hashed and written', async (t) => {
  if (skipIf(t, reason())) return;
  const dir = await makeTempDir('strata-blocks-');
  try {
    const store = new FsContentStore(join(dir.path, 'content'));
    // A producer like the tar writer: a recycled block per chunk, filled after it is taken,
    // fast enough that the hash queue and the store's batches hold many of them.
    const expected = createHash('sha256');
    let total = 0;
    async function* produce(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 96; i++) {
        const block = takeBlock();
        block.fill(i);
        const used = i % 7 === 0 ? OUT_BLOCK - 4096 * (i % 5) - 100 : OUT_BLOCK;
        const chunk = block.subarray(0, used);
        expected.update(chunk);
        total += used;
        yield chunk;
      }
    }
    const written = await store.write(Readable.from(produce()));
    const hex = expected.digest('hex');
    assert.equal(written.digest, `sha256:${hex}`, 'the digest is of the bytes produced');
    assert.equal(written.size, total);
    const onDisk = await readFile(store.blobPath(written.digest));
    assert.equal(createHash('sha256').update(onDisk).digest('hex'), hex, 'the file holds them too');
  } finally {
    await dir.cleanup();
  }
});
