// The content-store contract as a reusable suite (containerd's core/content/testsuite idea):
// every ContentStore implementation runs the same tests.

import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { digestOf, parseDigest, sha256Of } from '../../src/digest/digest.js';
import { BuilderError, DigestMismatchError } from '../../src/errors.js';
import type { BlobInfo, ContentStore } from '../../src/store/content/content-store.js';

export interface StoreFixture {
  store: ContentStore;
  cleanup(): Promise<void>;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

async function collect(iter: AsyncIterable<BlobInfo>): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const info of iter) out.push(info);
  return out;
}

function hasCode(code: string, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof BuilderError, `expected a BuilderError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

/** A stream that records whether it was read to the end. */
function trackedSource(chunks: Buffer[]): { stream: Readable; ended: () => boolean } {
  let ended = false;
  const stream = Readable.from(
    (async function* () {
      for (const c of chunks) yield c;
      ended = true;
    })(),
  );
  return { stream, ended: () => ended };
}

export function contentStoreSuite(name: string, make: () => Promise<StoreFixture>): void {
  const withStore = (fn: (store: ContentStore) => Promise<void>) => async () => {
    const fixture = await make();
    try {
      await fn(fixture.store);
    } finally {
      await fixture.cleanup();
    }
  };

  describe(`content store suite: ${name}`, () => {
    it(
      'writeBytes, then has/stat/readBytes/open',
      withStore(async (store) => {
        const bytes = Buffer.from('hello blob');
        const result = await store.writeBytes(bytes);
        assert.deepEqual(result, { digest: sha256Of(bytes), size: bytes.length, created: true });
        assert.equal(await store.has(result.digest), true);
        const info = await store.stat(result.digest);
        assert.equal(info.size, bytes.length);
        assert.equal(info.digest, result.digest);
        assert.ok(info.createdAt instanceof Date);
        assert.deepEqual(Buffer.from(await store.readBytes(result.digest)), bytes);
        assert.deepEqual(await readAll(await store.open(result.digest)), bytes);
        // open() is re-openable
        assert.deepEqual(await readAll(await store.open(result.digest)), bytes);
      }),
    );

    it(
      'write from a multi-chunk stream with expected digest and size',
      withStore(async (store) => {
        const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(10_000, i));
        const all = Buffer.concat(chunks);
        const result = await store.write(Readable.from(chunks), {
          expectedDigest: sha256Of(all),
          expectedSize: all.length,
        });
        assert.equal(result.created, true);
        assert.equal(result.size, all.length);
        assert.deepEqual(await readAll(await store.open(result.digest)), all);
      }),
    );

    it(
      'write from an async generator and from an array of chunks',
      withStore(async (store) => {
        const gen = async function* () {
          yield Buffer.from('ab');
          yield Buffer.from('c');
        };
        assert.equal((await store.write(gen())).digest, sha256Of('abc'));
        assert.equal((await store.write([Buffer.from('x'), Buffer.from('yz')])).digest, sha256Of('xyz'));
      }),
    );

    it(
      'the empty blob',
      withStore(async (store) => {
        const result = await store.writeBytes(new Uint8Array());
        assert.equal(
          result.digest,
          'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        );
        assert.equal((await store.stat(result.digest)).size, 0);
        assert.equal((await readAll(await store.open(result.digest))).length, 0);
      }),
    );

    it(
      'a wrong expected digest fails with DigestMismatchError and leaves nothing',
      withStore(async (store) => {
        const expected = sha256Of('expected');
        await assert.rejects(
          store.writeBytes(Buffer.from('actual'), { expectedDigest: expected }),
          (err: unknown) => {
            assert.ok(err instanceof DigestMismatchError);
            assert.equal(err.expected, expected);
            assert.equal(err.actual, sha256Of('actual'));
            return true;
          },
        );
        assert.equal(await store.has(expected), false);
        assert.equal(await store.has(sha256Of('actual')), false);
        assert.deepEqual(await collect(store.walk()), []);
      }),
    );

    it(
      'a wrong expected size fails with EDIGEST and leaves nothing (short and long)',
      withStore(async (store) => {
        const bytes = Buffer.from('twelve bytes');
        await assert.rejects(
          store.writeBytes(bytes, { expectedSize: 13 }),
          hasCode('EDIGEST', /12 bytes, expected 13/),
        );
        await assert.rejects(
          store.writeBytes(bytes, { expectedSize: 11 }),
          hasCode('EDIGEST', /larger than its declared size/),
        );
        await assert.rejects(
          store.writeBytes(bytes, { expectedDigest: sha256Of(bytes), expectedSize: 11 }),
          hasCode('EDIGEST'),
        );
        assert.equal(await store.has(sha256Of(bytes)), false);
        assert.deepEqual(await collect(store.walk()), []);
      }),
    );

    it(
      'writing an existing blob succeeds with created: false and drains the source',
      withStore(async (store) => {
        const bytes = Buffer.from('same content');
        const first = await store.writeBytes(bytes);
        const before = await store.stat(first.digest);
        const withDigest = trackedSource([bytes]);
        const second = await store.write(withDigest.stream, {
          expectedDigest: first.digest,
          expectedSize: bytes.length,
        });
        assert.deepEqual(second, { digest: first.digest, size: bytes.length, created: false });
        assert.ok(withDigest.ended(), 'the source was read to its end');
        const withoutDigest = trackedSource([bytes]);
        const third = await store.write(withoutDigest.stream);
        assert.deepEqual(third, { digest: first.digest, size: bytes.length, created: false });
        assert.ok(withoutDigest.ended());
        // Not rewritten, but its age is refreshed so a concurrent GC's grace period covers it.
        assert.ok((await store.stat(first.digest)).createdAt.getTime() >= before.createdAt.getTime());
        assert.deepEqual(Buffer.from(await store.readBytes(first.digest)), bytes);
        assert.equal((await collect(store.walk())).length, 1);
      }),
    );

    it(
      'an existing blob still verifies the incoming stream',
      withStore(async (store) => {
        const bytes = Buffer.from('the real content');
        const { digest } = await store.writeBytes(bytes);
        await assert.rejects(
          store.writeBytes(Buffer.from('an impostor'), { expectedDigest: digest }),
          DigestMismatchError,
        );
        assert.deepEqual(Buffer.from(await store.readBytes(digest)), bytes);
      }),
    );

    it(
      'concurrent writers of one blob: all succeed, exactly one creates it',
      withStore(async (store) => {
        const bytes = Buffer.alloc(200_000, 7);
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            store.write(
              Readable.from([bytes.subarray(0, 100_000), bytes.subarray(100_000)]),
              i % 2 === 0 ? { expectedDigest: sha256Of(bytes) } : {},
            ),
          ),
        );
        assert.equal(results.filter((r) => r.created).length, 1);
        assert.ok(results.every((r) => r.digest === sha256Of(bytes) && r.size === bytes.length));
        assert.deepEqual(Buffer.from(await store.readBytes(sha256Of(bytes), { maxSize: 1 << 20 })), bytes);
      }),
    );

    it(
      'a failing source rejects with its error and leaves nothing',
      withStore(async (store) => {
        const source = Readable.from(
          (async function* () {
            yield Buffer.from('partial');
            throw new Error('network dropped');
          })(),
        );
        await assert.rejects(store.write(source), /network dropped/);
        assert.deepEqual(await collect(store.walk()), []);
      }),
    );

    it(
      'an aborted write rejects with ECANCELED and leaves nothing',
      withStore(async (store) => {
        const controller = new AbortController();
        const source = Readable.from(
          (async function* () {
            yield Buffer.from('first');
            controller.abort();
            await new Promise((r) => setTimeout(r, 10));
            yield Buffer.from('second');
          })(),
        );
        await assert.rejects(store.write(source, { signal: controller.signal }), hasCode('ECANCELED'));
        assert.deepEqual(await collect(store.walk()), []);
      }),
    );

    it(
      'missing blobs are ENOTFOUND',
      withStore(async (store) => {
        const missing = sha256Of('missing');
        await assert.rejects(store.open(missing), hasCode('ENOTFOUND', /blob sha256:[0-9a-f]{64} not found/));
        await assert.rejects(store.stat(missing), hasCode('ENOTFOUND'));
        await assert.rejects(store.readBytes(missing), hasCode('ENOTFOUND'));
        assert.equal(await store.has(missing), false);
      }),
    );

    it(
      'invalid digests are EINVAL',
      withStore(async (store) => {
        const bad = '../../etc/passwd' as never;
        await assert.rejects(store.has(bad), hasCode('EINVAL'));
        await assert.rejects(store.open(bad), hasCode('EINVAL'));
        await assert.rejects(store.writeBytes(Buffer.from('x'), { expectedDigest: bad }), hasCode('EINVAL'));
        await assert.rejects(store.writeBytes(Buffer.from('x'), { expectedSize: -1 }), hasCode('EINVAL'));
      }),
    );

    it(
      'readBytes refuses blobs above maxSize',
      withStore(async (store) => {
        const { digest } = await store.writeBytes(Buffer.alloc(100));
        await assert.rejects(
          store.readBytes(digest, { maxSize: 99 }),
          hasCode('EINVAL', /100 bytes, more than the 99/),
        );
      }),
    );

    it(
      'delete removes a blob and reports whether it was there',
      withStore(async (store) => {
        const { digest } = await store.writeBytes(Buffer.from('to delete'));
        assert.equal(await store.delete(digest), true);
        assert.equal(await store.has(digest), false);
        assert.equal(await store.delete(digest), false);
        // and it can be written again
        assert.equal((await store.writeBytes(Buffer.from('to delete'))).created, true);
      }),
    );

    it(
      'walk lists every committed blob with its size',
      withStore(async (store) => {
        const contents = ['a', 'bb', 'ccc'].map((s) => Buffer.from(s));
        for (const c of contents) await store.writeBytes(c);
        const sha512 = await store.writeBytes(Buffer.from('dddd'), {
          expectedDigest: digestOf('dddd', 'sha512'),
        });
        const listed = (await collect(store.walk())).map((i) => [i.digest, i.size]).sort();
        const expected = [...contents.map((c) => [sha256Of(c), c.length]), [sha512.digest, 4]].sort();
        assert.deepEqual(listed, expected);
      }),
    );

    it(
      'hashes with the expected digest’s algorithm (sha512)',
      withStore(async (store) => {
        const digest = parseDigest(digestOf('x', 'sha512'));
        const result = await store.writeBytes(Buffer.from('x'), { expectedDigest: digest });
        assert.equal(result.digest, digest);
        assert.equal(await store.has(digest), true);
        assert.equal(await store.has(sha256Of('x')), false);
        assert.deepEqual(Buffer.from(await store.readBytes(digest)), Buffer.from('x'));
      }),
    );

    it(
      'open honours an abort signal',
      withStore(async (store) => {
        const { digest } = await store.writeBytes(Buffer.alloc(10));
        const controller = new AbortController();
        controller.abort();
        await assert.rejects(store.open(digest, { signal: controller.signal }));
      }),
    );

    it(
      'cleanIngest on a quiet store removes nothing that is committed',
      withStore(async (store) => {
        const { digest } = await store.writeBytes(Buffer.from('kept'));
        await store.cleanIngest({ olderThanMs: 0 });
        assert.equal(await store.has(digest), true);
      }),
    );
  });
}
