import assert from 'node:assert/strict';
import fs, { writeFileSync } from 'node:fs';
import { readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { isAlignedBlock, OUT_BLOCK, releaseBlock, takeBlock } from '../../../src/archive/block-pool.js';
import { digestOf, sha256Of } from '../../../src/digest/digest.js';
import { writeLayer } from '../../../src/image/write-layer.js';
import { FsContentStore } from '../../../src/store/content/fs-content-store.js';
import { MemoryContentStore } from '../../../src/store/content/memory-content-store.js';
import { type DirectIo, directIo } from '../../../src/sys/index.js';
import { contentStoreSuite } from '../../helpers/content-store-suite.js';
import { configFor, withStore } from '../../helpers/image-fixtures.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';
import { skipIf } from '../../integration/prereqs.js';

/** Runs `fn` with a fresh directory, removed afterwards whatever happens. */
async function withTempDir(fn: (dir: { path: string }) => Promise<void>): Promise<void> {
  const dir = await makeTempDir();
  try {
    await fn(dir);
  } finally {
    await dir.cleanup();
  }
}

contentStoreSuite('FsContentStore', async () => {
  const dir = await makeTempDir('strata-content-');
  return { store: new FsContentStore(join(dir.path, 'content')), cleanup: dir.cleanup };
});

contentStoreSuite('MemoryContentStore', async () => ({
  store: new MemoryContentStore(),
  cleanup: async () => {},
}));

describe('FsContentStore on disk', () => {
  it('lays blobs out as blobs/<alg>/<hex>, read-only, with an empty ingest/ afterwards', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      const { digest } = await store.writeBytes(Buffer.from('layout'));
      const path = join(dir.path, 'blobs', 'sha256', digest.slice('sha256:'.length));
      assert.equal(store.blobPath(digest), path);
      const st = await stat(path);
      assert.equal(st.mode & 0o777, 0o444);
      assert.equal(st.nlink, 1, 'the ingest name was removed');
      assert.deepEqual(await readdir(join(dir.path, 'ingest')), []);
      assert.deepEqual(await readdir(join(dir.path, 'blobs')), ['sha256']);
    });
  });

  it('many small chunks and a few large ones are stored byte for byte, in order', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      // Like a layer tar: 512-byte headers and odd-sized bodies, with 3 MiB bodies among them
      // (the writer gathers small chunks into ~1 MiB writes and passes large ones through).
      const chunks: Buffer[] = [];
      for (let i = 0; i < 6000; i++) {
        chunks.push(Buffer.alloc(512, i % 251));
        chunks.push(Buffer.alloc(i % 1000 === 999 ? 3 << 20 : (i * 37) % 5000, (i * 7) % 253));
      }
      const expected = Buffer.concat(chunks);
      const { digest, size } = await store.write(Readable.from(chunks));
      assert.equal(size, expected.length);
      assert.equal(digest, sha256Of(expected));
      assert.ok((await readFile(store.blobPath(digest))).equals(expected));
    });
  });

  it('blobs written at the same time, each across several 4 MiB direct writes, keep their own bytes', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      const blobs = [0, 1, 2, 3].map((n) => {
        const parts: Buffer[] = [];
        for (let i = 0; i < 70; i++)
          parts.push(Buffer.alloc(((i * 7919) % 400_000) + 1 + n, (n * 70 + i) % 256));
        return parts;
      });
      const results = await Promise.all(blobs.map((parts) => store.write(Readable.from(parts))));
      for (const [n, parts] of blobs.entries()) {
        const expected = Buffer.concat(parts);
        assert.ok(expected.length > 2 * (4 << 20), 'more than two staging buffers each');
        assert.equal(results[n]?.digest, sha256Of(expected));
        assert.ok((await readFile(store.blobPath(sha256Of(expected)))).equals(expected));
      }
      // Again, now that staging buffers are kept from the writes before.
      const again = await store.write(Readable.from(blobs[3] as Buffer[]));
      assert.equal(again.digest, results[3]?.digest);
    });
  });

  it('aligned tar blocks are written as they are, mixed with chunks that are copied, in order', async (t) => {
    if (
      skipIf(t, directIo() === undefined ? 'the native addon is not built (npm run build:native)' : undefined)
    )
      return;
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      const block = (fill: number, length = OUT_BLOCK) => {
        const b = takeBlock();
        assert.ok(isAlignedBlock(b), 'pool blocks are aligned where the addon is');
        b.fill(fill, 0, length);
        return b.subarray(0, length);
      };
      // Straight writes, then an odd chunk (the rest is copied: the file offset is unaligned),
      // then a partial block at the end.
      const chunks = [
        block(1),
        block(2),
        block(3),
        Buffer.alloc(1000, 4),
        block(5),
        block(6),
        block(7, 5000),
      ];
      const expected = Buffer.concat(chunks.map((c) => Buffer.from(c)));
      const { digest } = await store.write(Readable.from(chunks));
      assert.equal(digest, sha256Of(expected));
      assert.ok((await readFile(store.blobPath(digest))).equals(expected));
      // The blocks written uncopied went back to the pool once written. (Later ones may reach
      // the store concatenated, when this test's source outruns it, and are then not recycled.)
      const back = Array.from({ length: 8 }, () => takeBlock());
      for (const written of chunks.slice(0, 3))
        assert.ok(
          back.some((b) => b.buffer === written.buffer),
          'a block was not released after its write',
        );
      for (const b of back) releaseBlock(b);
    });
  });

  it('a filesystem that takes O_DIRECT but refuses the writes (EINVAL) gets them through the page cache', async (t) => {
    const io = directIo();
    if (skipIf(t, io === undefined ? 'the native addon is not built (npm run build:native)' : undefined))
      return;
    const real = io as DirectIo;
    await withTempDir(async (dir) => {
      const calls: boolean[] = [];
      // Buffers one byte off alignment: a direct write of them is refused with EINVAL.
      const store = new FsContentStore(dir.path, {
        directIo: {
          alignedBuffer: (size) => Buffer.allocUnsafeSlow(size + 1).subarray(1),
          setDirect: (fd, on) => {
            calls.push(on);
            real.setDirect(fd, on);
          },
        },
      });
      const parts: Buffer[] = [];
      for (let i = 0; i < 40; i++) parts.push(Buffer.alloc(((i * 7919) % 700_000) + 200_000, i));
      const expected = Buffer.concat(parts);
      assert.ok(expected.length > 2 * (4 << 20));
      const { digest } = await store.write(Readable.from(parts));
      assert.equal(digest, sha256Of(expected));
      assert.ok((await readFile(store.blobPath(digest))).equals(expected));
      assert.deepEqual(calls, [true, false], 'tried once, then the page cache for the rest');
    });
  });

  it('small blobs from memory (written on the main thread) land as streamed ones do, whatever was removed under the store', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      const bytes = Buffer.from('{"config":true}');
      const first = await store.writeBytes(bytes, {
        expectedDigest: sha256Of(bytes),
        expectedSize: bytes.length,
      });
      assert.deepEqual(first, { digest: sha256Of(bytes), size: bytes.length, created: true });
      const streamed = await store.write(Readable.from([bytes]));
      assert.deepEqual(streamed, { ...first, created: false });
      // ingest/ and blobs/ removed under a store that made them once: made again.
      await rm(join(dir.path, 'ingest'), { recursive: true });
      await rm(join(dir.path, 'blobs'), { recursive: true });
      const again = await store.writeBytes(bytes);
      assert.deepEqual(again, first);
      assert.deepEqual(await readFile(store.blobPath(first.digest)), bytes);
      assert.deepEqual(await readdir(join(dir.path, 'ingest')), []);
      const sha512 = await store.writeBytes(bytes, { expectedDigest: digestOf(bytes, 'sha512') });
      assert.equal(sha512.digest, digestOf(bytes, 'sha512'));
      assert.deepEqual(await readFile(store.blobPath(sha512.digest)), bytes);
      // A wrong size is refused, as for a stream, and nothing is left behind.
      await assert.rejects(store.writeBytes(Buffer.from('other'), { expectedSize: 4 }), /size|bytes/);
      assert.deepEqual(await readdir(join(dir.path, 'ingest')), []);
    });
  });

  it('a failed write leaves ingest/ empty', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      await assert.rejects(store.writeBytes(Buffer.from('x'), { expectedDigest: sha256Of('y') }));
      assert.deepEqual(await readdir(join(dir.path, 'ingest')), []);
      assert.deepEqual(await readdir(join(dir.path, 'blobs', 'sha256')), []);
    });
  });

  it('a store whose root does not exist reads as empty', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(join(dir.path, 'nope'));
      assert.equal(await store.has(sha256Of('x')), false);
      const all = [];
      for await (const b of store.walk()) all.push(b);
      assert.deepEqual(all, []);
      assert.equal(await store.cleanIngest(), 0);
    });
  });

  it('walk ignores files that are not blobs', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      const { digest } = await store.writeBytes(Buffer.from('real'));
      await writeFile(join(dir.path, 'blobs', 'sha256', 'not-a-digest'), 'x');
      await writeFile(join(dir.path, 'blobs', 'sha256', 'A'.repeat(64)), 'x');
      const all = [];
      for await (const b of store.walk()) all.push(b.digest);
      assert.deepEqual(all, [digest]);
    });
  });

  it('cleanIngest removes only temp files older than the cutoff', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      await store.writeBytes(Buffer.from('prepare dirs'));
      const old = join(store.ingestDir, '1234-deadbeef');
      const fresh = join(store.ingestDir, '1234-cafebabe');
      await writeFile(old, 'partial');
      await writeFile(fresh, 'partial');
      const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
      await utimes(old, twoHoursAgo, twoHoursAgo);
      assert.equal(await store.cleanIngest({ olderThanMs: 60 * 60 * 1000 }), 1);
      assert.deepEqual(await readdir(store.ingestDir), ['1234-cafebabe']);
      assert.equal(await store.cleanIngest({ olderThanMs: 0 }), 1);
      assert.deepEqual(await readdir(store.ingestDir), []);
    });
  });

  it('a partial ingest (as after a crash) is never visible as a blob', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      const full = Buffer.alloc(1 << 20, 1);
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const pending = store.write(
        Readable.from(
          (async function* () {
            yield full.subarray(0, 1 << 19);
            await gate;
            yield full.subarray(1 << 19);
          })(),
        ),
        { expectedDigest: sha256Of(full) },
      );
      // Mid-write: bytes are in ingest/, nothing in blobs/.
      for (let i = 0; i < 100 && (await readdir(store.ingestDir).catch(() => [])).length === 0; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal((await readdir(store.ingestDir)).length, 1);
      assert.equal(await store.has(sha256Of(full)), false);
      assert.deepEqual(await readdir(join(dir.path, 'blobs', 'sha256')), []);
      release();
      assert.equal((await pending).created, true);
      assert.equal(await store.has(sha256Of(full)), true);
    });
  });
});

describe('FsContentStore and sources that write themselves', () => {
  const writable = (bytes: Buffer, what: { digest?: string; size?: number } | undefined, seen: number[]) =>
    Object.assign([bytes], {
      async writeToFile(fd: number) {
        seen.push(fd);
        if (what === undefined) return undefined;
        writeFileSync(fd, bytes);
        return {
          digest: what.digest ?? sha256Of(bytes).slice('sha256:'.length),
          size: what.size ?? bytes.length,
        };
      },
    });

  it('a layer tar that writes itself is committed under the digest it reports, as any blob', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      const bytes = Buffer.from('written by the source itself');
      const seen: number[] = [];
      const result = await store.write(writable(bytes, {}, seen));
      assert.equal(seen.length, 1, 'writeToFile was used');
      assert.deepEqual(result, { digest: sha256Of(bytes), size: bytes.length, created: true });
      assert.deepEqual(await readFile(store.blobPath(result.digest)), bytes);
      assert.equal((await stat(store.blobPath(result.digest))).mode & 0o777, 0o444);
      assert.deepEqual(await readdir(store.ingestDir), []);
      // A wrong size against the one expected fails, and nothing is committed.
      await assert.rejects(store.write(writable(Buffer.from('other'), {}, seen), { expectedSize: 3 }));
      assert.equal(await store.has(sha256Of(Buffer.from('other'))), false);
      assert.deepEqual(await readdir(store.ingestDir), []);
    });
  });

  it('one that can give its bytes when small is stored from them, a bigger one writes itself', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      const seen: number[] = [];
      const limits: number[] = [];
      const source = (bytes: Buffer) =>
        Object.assign(writable(bytes, {}, seen), {
          inMemory(max: number) {
            limits.push(max);
            return bytes.length <= max ? bytes : undefined;
          },
        });
      const small = Buffer.from('a one-file layer');
      const result = await store.write(source(small));
      assert.deepEqual(result, { digest: sha256Of(small), size: small.length, created: true });
      assert.deepEqual(seen, [], 'writeToFile was not used');
      assert.deepEqual(await readFile(store.blobPath(result.digest)), small);
      assert.equal((await stat(store.blobPath(result.digest))).mode & 0o777, 0o444);
      const big = Buffer.alloc((limits[0] as number) + 1, 7);
      assert.equal((await store.write(source(big))).digest, sha256Of(big));
      assert.equal(seen.length, 1, 'past the limit it wrote itself');
      assert.deepEqual(await readdir(store.ingestDir), []);
    });
  });

  it('one that cannot is read as chunks; with an expected digest it is always read and verified', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      const bytes = Buffer.from('read as chunks');
      const seen: number[] = [];
      assert.equal((await store.write(writable(bytes, undefined, seen))).digest, sha256Of(bytes));
      assert.equal(seen.length, 1);
      const lying = writable(Buffer.from('verified'), { digest: '0'.repeat(64) }, seen);
      const result = await store.write(lying, { expectedDigest: sha256Of(Buffer.from('verified')) });
      assert.equal(seen.length, 1, 'not asked to write itself when the digest is known');
      assert.equal(result.digest, sha256Of(Buffer.from('verified')));
    });
  });
});

describe('MemoryContentStore', () => {
  it('counts blobs and returns copies', async () => {
    const store = new MemoryContentStore();
    const { digest } = await store.writeBytes(Buffer.from('abc'));
    assert.equal(store.size, 1);
    const copy = await store.readBytes(digest);
    copy[0] = 0;
    assert.deepEqual(Buffer.from(await store.readBytes(digest)), Buffer.from('abc'));
  });
});

describe('deferred blob names (deferDirSync) and syncNames', () => {
  /** Records the path of every descriptor fsynced (node:fs's fsyncSync, the store's). */
  function spyFsync(): { paths: string[]; restore(): void } {
    const original = fs.fsyncSync;
    const paths: string[] = [];
    fs.fsyncSync = (fd: number) => {
      paths.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
      original(fd);
    };
    syncBuiltinESMExports();
    return {
      paths,
      restore() {
        fs.fsyncSync = original;
        syncBuiltinESMExports();
      },
    };
  }

  it('a deferred blob is synced, its name is not until syncNames; a plain write of the same blob syncs it', async () => {
    await withTempDir(async (dir) => {
      const store = new FsContentStore(dir.path);
      const blobs = join(dir.path, 'blobs', 'sha256');
      await store.writeBytes(Buffer.from('first, so the folders exist'));
      const spy = spyFsync();
      try {
        const bytes = Buffer.from('a layer');
        const { digest } = await store.writeBytes(bytes, { deferDirSync: true });
        assert.deepEqual(await readFile(store.blobPath(digest)), bytes, 'readable at once');
        assert.equal(spy.paths.length, 1, `the blob's bytes only: ${spy.paths.join(', ')}`);
        assert.ok(spy.paths[0]?.startsWith(join(dir.path, 'ingest')));
        await store.syncNames();
        assert.deepEqual(spy.paths.slice(1), [blobs]);
        // Deferred again, then written plainly by someone who needs it durable now.
        spy.paths.length = 0;
        const other = Buffer.from('a config');
        await store.writeBytes(other, { deferDirSync: true });
        await store.writeBytes(other);
        assert.equal(spy.paths.at(-1), blobs, 'the existing blob was not durable yet: synced');
      } finally {
        spy.restore();
      }
      // No blob folder at all: nothing to sync, no error.
      await new FsContentStore(join(dir.path, 'empty')).syncNames();
    });
  });

  it('ImageStore.put syncs the blob names (its config, manifest and deferred layers) before the image record', async () => {
    await withStore(async (store) => {
      const layer = await writeLayer(store.content, Readable.from([Buffer.alloc(1024)]), {
        compression: 'none',
        deferDirSync: true,
      });
      const spy = spyFsync();
      try {
        const config = configFor([layer]);
        const image = await store.images.put(config, [layer.descriptor]);
        const blobs = join(store.content.root, 'blobs', 'sha256');
        const dirSync = spy.paths.indexOf(blobs);
        const record = spy.paths.findIndex((p) => p.includes('records'));
        assert.ok(dirSync >= 0 && record > dirSync, spy.paths.join('\n'));
        assert.equal(spy.paths.filter((p) => p === blobs).length, 1, 'one fsync of the blobs folder');
        assert.equal((await store.images.get(image.id)).id, image.id);
      } finally {
        spy.restore();
      }
    });
  });
});
