import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sha256Of } from '../../../src/digest/digest.js';
import { BuilderError } from '../../../src/errors.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import type { Descriptor } from '../../../src/oci/types.js';
import { writeFileAtomic } from '../../../src/store/meta/atomic-file.js';
import { acquireFileLock, withFileLock } from '../../../src/store/meta/file-lock.js';
import { FsMetaStore } from '../../../src/store/meta/meta-store.js';
import { escapeRecordKey } from '../../../src/store/meta/record-store.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';

function target(n: number): Descriptor {
  return { mediaType: MediaTypes.ociManifest, digest: sha256Of(`manifest ${n}`), size: 100 + n };
}

async function withMeta(fn: (meta: FsMetaStore, root: string) => Promise<void>): Promise<void> {
  const dir = await makeTempDir('strata-meta-');
  try {
    await fn(new FsMetaStore(dir.path, { lockOptions: { staleMs: 2000, timeoutMs: 5000 } }), dir.path);
  } finally {
    await dir.cleanup();
  }
}

describe('escapeRecordKey', () => {
  const table: [string, string][] = [
    ['docker.io/library/ubuntu:latest', 'docker.io%2Flibrary%2Fubuntu%3Alatest.json'],
    ['Foo/bar:TAG', '%46oo%2Fbar%3A%54%41%47.json'],
    ['.hidden', '%2Ehidden.json'],
    ['a%b', 'a%25b.json'],
    ['é', '%C3%A9.json'],
  ];
  for (const [key, file] of table) it(key, () => assert.equal(escapeRecordKey(key), file));

  it('distinct keys give distinct names; long keys are hashed', () => {
    assert.notEqual(escapeRecordKey('a/b'), escapeRecordKey('a%2Fb'));
    const long = `example.com/${'x'.repeat(250)}:tag`;
    assert.match(escapeRecordKey(long), /^~[0-9a-f]{64}\.json$/);
  });
});

describe('names', () => {
  it('set / get / list / delete, with the documented file format', async () => {
    await withMeta(async (meta, root) => {
      assert.equal(await meta.names.get('docker.io/library/a:latest'), undefined);
      const rec = await meta.names.set('docker.io/library/a:latest', target(1), { labels: { k: 'v' } });
      assert.equal(rec.name, 'docker.io/library/a:latest');
      assert.deepEqual(rec.target, target(1));
      assert.deepEqual(await meta.names.get('docker.io/library/a:latest'), rec);

      const file = join(root, 'v1', 'names', 'docker.io%2Flibrary%2Fa%3Alatest.json');
      const onDisk = JSON.parse(await readFile(file, 'utf8'));
      assert.equal(onDisk.v, 1);
      assert.equal(onDisk.key, 'docker.io/library/a:latest');
      assert.deepEqual(onDisk.value.target, target(1));
      assert.deepEqual(onDisk.value.labels, { k: 'v' });

      await meta.names.set('docker.io/library/b:1', target(2));
      assert.deepEqual(
        (await meta.names.list()).map((r) => r.name),
        ['docker.io/library/a:latest', 'docker.io/library/b:1'],
      );
      assert.equal(await meta.names.delete('docker.io/library/a:latest'), true);
      assert.equal(await meta.names.delete('docker.io/library/a:latest'), false);
      assert.deepEqual(
        (await meta.names.list()).map((r) => r.name),
        ['docker.io/library/b:1'],
      );
      assert.deepEqual(await readdir(join(root, 'v1', 'tmp')), [], 'no temp files left');
    });
  });

  it('re-tagging keeps createdAt and replaces the target', async () => {
    await withMeta(async (meta) => {
      const first = await meta.names.set('n:1', target(1));
      await sleep(5);
      const second = await meta.names.set('n:1', target(2));
      assert.equal(second.createdAt, first.createdAt);
      assert.deepEqual(second.target, target(2));
      assert.ok(second.updatedAt >= first.updatedAt);
    });
  });

  it('rejects an invalid target and an empty name', async () => {
    await withMeta(async (meta) => {
      await assert.rejects(meta.names.set('x', { ...target(1), digest: 'sha256:1' as never }), {
        code: 'EINVAL',
      });
      await assert.rejects(meta.names.set('', target(1)), { code: 'EINVAL' });
      await assert.rejects(meta.names.get('a\0b'), { code: 'EINVAL' });
    });
  });

  it('a corrupt record is reported loudly (EINTERNAL), not skipped', async () => {
    await withMeta(async (meta, root) => {
      await meta.names.set('ok', target(1));
      await writeFile(join(root, 'v1', 'names', 'bad.json'), '{"v":1,"key":"bad","value":{"target":{}}}');
      await assert.rejects(
        meta.names.list(),
        (err: unknown) =>
          err instanceof BuilderError && err.code === 'EINTERNAL' && /bad\.json/.test(err.message),
      );
      await assert.rejects(meta.names.get('bad'), { code: 'EINTERNAL' });
    });
  });

  it('update is a read-modify-write under the names lock', async () => {
    await withMeta(async (meta) => {
      await meta.names.set('counter', { ...target(0), annotations: { n: '0' } });
      await Promise.all(
        Array.from({ length: 20 }, () =>
          meta.names.update('counter', (current) => {
            const n = Number(current?.target.annotations?.n ?? '0') + 1;
            return { target: { ...target(0), annotations: { n: String(n) } } };
          }),
        ),
      );
      assert.equal((await meta.names.get('counter'))?.target.annotations?.n, '20');
      assert.equal(await meta.names.update('counter', () => undefined), undefined);
      assert.equal(await meta.names.get('counter'), undefined);
    });
  });
});

describe('records', () => {
  it('stores validated JSON records per kind', async () => {
    await withMeta(async (meta, root) => {
      const builds = meta.records('builds', (v) => {
        if (typeof v !== 'object' || v === null || typeof (v as { steps?: unknown }).steps !== 'number') {
          throw new Error('steps must be a number');
        }
        return v as { steps: number };
      });
      await builds.put('b1', { steps: 3 });
      assert.deepEqual((await builds.get('b1'))?.value, { steps: 3 });
      await assert.rejects(
        builds.put('b2', { steps: 'x' } as never),
        (err: unknown) =>
          err instanceof BuilderError &&
          err.code === 'EINVAL' &&
          /invalid builds "b2": steps must be a number/.test(err.message),
      );
      assert.deepEqual(await readdir(join(root, 'v1', 'records', 'builds')), ['b1.json']);
      assert.throws(() => meta.records('../x', (v) => v), { code: 'EINVAL' });
    });
  });
});

describe('writeFileAtomic', () => {
  it('replaces a file whole and leaves no temp behind', async () => {
    const dir = await makeTempDir();
    try {
      const path = join(dir.path, 'sub', 'f.json');
      await writeFileAtomic(path, 'one');
      await writeFileAtomic(path, 'two');
      assert.equal(await readFile(path, 'utf8'), 'two');
      assert.deepEqual(await readdir(join(dir.path, 'sub')), ['f.json']);
    } finally {
      await dir.cleanup();
    }
  });

  it('readers racing with writers only ever see whole versions', async () => {
    const dir = await makeTempDir();
    try {
      const path = join(dir.path, 'f');
      const versions = Array.from({ length: 30 }, (_, i) => `${i}`.repeat(20_000));
      await writeFileAtomic(path, versions[0]!);
      let done = false;
      const reader = (async () => {
        let reads = 0;
        while (!done) {
          const text = await readFile(path, 'utf8');
          assert.ok(versions.includes(text), 'a torn read');
          reads++;
        }
        return reads;
      })();
      for (const v of versions) await writeFileAtomic(path, v);
      done = true;
      assert.ok((await reader) > 0);
    } finally {
      await dir.cleanup();
    }
  });
});

describe('file locks', () => {
  it('serialise async tasks in one process', async () => {
    const dir = await makeTempDir();
    try {
      const path = join(dir.path, 'locks', 'x.lock');
      let inside = 0;
      let maxInside = 0;
      await Promise.all(
        Array.from({ length: 10 }, () =>
          withFileLock(path, async () => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            await sleep(2);
            inside--;
          }),
        ),
      );
      assert.equal(maxInside, 1);
      assert.deepEqual(await readdir(join(dir.path, 'locks')), []);
    } finally {
      await dir.cleanup();
    }
  });

  it('times out with EUNAVAILABLE naming the holder', async () => {
    const dir = await makeTempDir();
    try {
      const path = join(dir.path, 'x.lock');
      const held = await acquireFileLock(path);
      await assert.rejects(acquireFileLock(path, { timeoutMs: 50 }), (err: unknown) => {
        assert.ok(err instanceof BuilderError);
        assert.equal(err.code, 'EUNAVAILABLE');
        assert.match(err.message, new RegExp(`held by pid ${process.pid} on `));
        return true;
      });
      await held.release();
      await (await acquireFileLock(path, { timeoutMs: 50 })).release();
    } finally {
      await dir.cleanup();
    }
  });

  it('can be canceled with a signal', async () => {
    const dir = await makeTempDir();
    try {
      const path = join(dir.path, 'x.lock');
      const held = await acquireFileLock(path);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 20);
      await assert.rejects(acquireFileLock(path, { signal: controller.signal }), { code: 'ECANCELED' });
      await held.release();
    } finally {
      await dir.cleanup();
    }
  });

  it('breaks a lock whose heartbeat is older than staleMs', async () => {
    const dir = await makeTempDir();
    try {
      const path = join(dir.path, 'x.lock');
      await writeFile(path, JSON.stringify({ pid: 1, hostname: 'elsewhere', token: 't', acquiredAt: '' }));
      const old = new Date(Date.now() - 60_000);
      await utimes(path, old, old);
      const lock = await acquireFileLock(path, { staleMs: 1000, timeoutMs: 1000 });
      assert.equal(JSON.parse(await readFile(path, 'utf8')).pid, process.pid);
      await lock.release();
    } finally {
      await dir.cleanup();
    }
  });

  it('breaks a fresh lock at once when its owner process is gone (same host and pid namespace)', async () => {
    const dir = await makeTempDir();
    try {
      const path = join(dir.path, 'x.lock');
      const pidns = await import('node:fs').then((fs) => {
        try {
          return fs.readlinkSync('/proc/self/ns/pid');
        } catch {
          return undefined;
        }
      });
      if (pidns === undefined) return; // not Linux: only mtime staleness applies
      // A pid that cannot exist (beyond pid_max on Linux).
      await writeFile(
        path,
        JSON.stringify({ pid: 2 ** 22 + 1, hostname: hostname(), pidns, token: 't', acquiredAt: '' }),
      );
      const lock = await acquireFileLock(path, { staleMs: 60_000, timeoutMs: 1000 });
      await lock.release();
    } finally {
      await dir.cleanup();
    }
  });

  it('keeps a live holder’s lock fresh with a heartbeat', async () => {
    const dir = await makeTempDir();
    try {
      const path = join(dir.path, 'x.lock');
      const held = await acquireFileLock(path, { staleMs: 90 });
      await sleep(250); // several stale periods; heartbeats every 30 ms keep it fresh
      await assert.rejects(acquireFileLock(path, { staleMs: 90, timeoutMs: 60 }), { code: 'EUNAVAILABLE' });
      assert.equal(held.lost, false);
      await held.release();
    } finally {
      await dir.cleanup();
    }
  });

  it('release does not remove a lock someone else now holds', async () => {
    const dir = await makeTempDir();
    try {
      const path = join(dir.path, 'x.lock');
      const first = await acquireFileLock(path, { staleMs: 60_000 });
      // Simulate: first was judged stale and broken, and another process took the lock.
      await writeFile(path, JSON.stringify({ pid: 1, hostname: 'other', token: 'theirs', acquiredAt: '' }));
      await first.release();
      assert.equal(first.lost, true);
      assert.equal(JSON.parse(await readFile(path, 'utf8')).token, 'theirs');
    } finally {
      await dir.cleanup();
    }
  });

  it('meta.withLock uses locks/<name>.lock and rejects odd names', async () => {
    await withMeta(async (meta, root) => {
      await meta.withLock('gc', async (lock) => {
        assert.equal(lock.path, join(root, 'v1', 'locks', 'gc.lock'));
        assert.deepEqual(await readdir(join(root, 'v1', 'locks')), ['gc.lock']);
      });
      assert.throws(() => meta.lockPath('../gc'), { code: 'EINVAL' });
    });
  });
});

describe('cache index', () => {
  it('put / get: newest wins; delete appends a tombstone', async () => {
    await withMeta(async (meta) => {
      const index = meta.cacheIndex;
      assert.equal(await index.get('k'), undefined);
      await index.put('k', { layer: 1 }, { time: 1 });
      await index.put('k', { layer: 2 }, { time: 2 });
      assert.deepEqual(await index.get('k'), { key: 'k', value: { layer: 2 }, time: 2 });
      await index.delete('k');
      assert.equal(await index.get('k'), undefined);
      assert.equal((await index.history('k')).length, 3);
      await index.put('k', { layer: 3 }, { time: 4 });
      assert.deepEqual((await index.get('k'))?.value, { layer: 3 });
    });
  });

  it('lines are "\\n<sha256(json)>\\t<json>" in <hh>/<rest> buckets', async () => {
    await withMeta(async (meta, root) => {
      await meta.cacheIndex.put('key-1', 'v', { time: 7 });
      const path = meta.cacheIndex.bucketPath('key-1');
      const hex = sha256Of('key-1').slice(7);
      assert.equal(path, join(root, 'v1', 'cache-index', hex.slice(0, 2), hex.slice(2)));
      const json = '{"key":"key-1","time":7,"value":"v"}';
      assert.equal(await readFile(path, 'utf8'), `\n${sha256Of(json).slice(7)}\t${json}`);
    });
  });

  it('drops torn and tampered lines, and a torn line does not swallow the next entry', async () => {
    await withMeta(async (meta) => {
      const index = meta.cacheIndex;
      await index.put('k', 'first', { time: 1 });
      const path = index.bucketPath('k');
      await appendFile(path, '\nabc123\t{"key":"k","ti'); // torn by a crash
      assert.equal((await index.get('k'))?.value, 'first');
      await index.put('k', 'after-crash', { time: 2 });
      assert.equal((await index.get('k'))?.value, 'after-crash');
      const forged = '{"key":"k","time":3,"value":"forged"}';
      await appendFile(path, `\n${'0'.repeat(64)}\t${forged}`);
      assert.equal((await index.get('k'))?.value, 'after-crash');
    });
  });

  it('entries() lists the newest live entry per key', async () => {
    await withMeta(async (meta) => {
      const index = meta.cacheIndex;
      await index.put('a', 1);
      await index.put('a', 2);
      await index.put('b', 3);
      await index.put('c', 4);
      await index.delete('c');
      const all = [];
      for await (const e of index.entries()) all.push([e.key, e.value]);
      assert.deepEqual(all.sort(), [
        ['a', 2],
        ['b', 3],
      ]);
    });
  });

  it('compact() keeps only the newest live entries and honours keep()', async () => {
    await withMeta(async (meta) => {
      const index = meta.cacheIndex;
      for (let i = 0; i < 5; i++) await index.put('a', i, { time: i });
      await index.put('b', 'x', { time: 1 });
      await index.put('c', 'y', { time: 1 });
      await index.delete('c');
      await index.put('d', 'old', { time: 0 });
      await appendFile(index.bucketPath('b'), '\ntorn');
      const result = await index.compact({ keep: (e) => e.key !== 'd' });
      assert.deepEqual(result, { buckets: 4, droppedLines: 4 + 1 + 2 + 1, removedBuckets: 2 });
      assert.deepEqual(await index.history('a'), [{ key: 'a', value: 4, time: 4 }]);
      assert.deepEqual((await index.get('b'))?.value, 'x');
      assert.equal(await index.get('c'), undefined);
      assert.equal(await index.get('d'), undefined);
      assert.deepEqual(await index.compact(), { buckets: 2, droppedLines: 0, removedBuckets: 0 });
    });
  });

  it('rejects empty keys and undefined values', async () => {
    await withMeta(async (meta) => {
      await assert.rejects(meta.cacheIndex.put('', 1), { code: 'EINVAL' });
      await assert.rejects(meta.cacheIndex.put('k', undefined), { code: 'EINVAL' });
    });
  });
});

describe('cleanTemp', () => {
  it('removes abandoned temp files', async () => {
    await withMeta(async (meta) => {
      await meta.names.set('x', target(1));
      await writeFile(join(meta.tempDir, '.tmp-1-abc'), 'partial');
      assert.equal(await meta.cleanTemp({ olderThanMs: 60_000 }), 0);
      assert.equal(await meta.cleanTemp({ olderThanMs: 0 }), 1);
      assert.deepEqual(await readdir(meta.tempDir), []);
    });
  });
});
