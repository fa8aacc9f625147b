// Two real Node processes hammer one store at once: the same blobs, the same names, the same
// cache keys, a counter under the names lock. Afterwards nothing is corrupt, each blob was
// created exactly once, and no temp files remain. Also: a process killed mid-ingest leaves
// nothing visible, and a lock held by a killed process is taken over at once.

import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sha256Of } from '../../../src/digest/digest.js';
import { FsContentStore } from '../../../src/store/content/fs-content-store.js';
import { FsMetaStore } from '../../../src/store/meta/meta-store.js';
import { type RaceReport, sharedBlob } from '../../helpers/store-race-data.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';

const WORKER = fileURLToPath(new URL('../../helpers/store-worker.js', import.meta.url));

function spawnWorker(): ChildProcess {
  return fork(WORKER, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function waitFor(child: ChildProcess, predicate: (m: unknown) => boolean): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (typeof m === 'object' && m !== null && 'error' in m) {
        cleanup();
        reject(new Error(`worker failed: ${(m as { error: string }).error}`));
      } else if (predicate(m)) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`worker exited early (code ${code}, signal ${signal})`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const BLOBS = 40;
const COUNTER = 25;

describe('two processes on one store', () => {
  it('write the same blobs, names and cache keys at once without corruption', async () => {
    const dir = await makeTempDir('strata-race-');
    const workers = [spawnWorker(), spawnWorker()];
    try {
      const ready = workers.map((w) => waitFor(w, (m) => m === 'ready'));
      workers.forEach((w, i) => {
        w.send({ mode: 'race', root: dir.path, blobs: BLOBS, counter: COUNTER, seed: i + 1 });
      });
      await Promise.all(ready);
      const reports = workers.map((w) =>
        waitFor(w, (m) => typeof m === 'object' && m !== null && 'report' in m),
      );
      for (const w of workers) w.send({ go: true });
      const results = (await Promise.all(reports)).map((m) => (m as { report: RaceReport }).report);
      await Promise.all(workers.map(exited));

      // Every blob: present, intact, created by exactly one of the two processes.
      assert.equal(
        results.reduce((n, r) => n + r.written, 0),
        2 * BLOBS,
      );
      assert.equal(
        results.reduce((n, r) => n + r.created, 0),
        BLOBS,
      );
      const content = new FsContentStore(join(dir.path, 'content'));
      const expected = new Set<string>();
      for (let i = 0; i < BLOBS; i++) {
        const bytes = sharedBlob(i);
        const digest = sha256Of(bytes);
        expected.add(digest);
        assert.equal((await content.stat(digest)).size, bytes.length);
        await content.readBytes(digest, { maxSize: 1 << 20 }); // verifies the digest
      }
      const walked = new Set<string>();
      for await (const info of content.walk()) walked.add(info.digest);
      assert.deepEqual(walked, expected);
      assert.deepEqual(await readdir(join(dir.path, 'content', 'ingest')), []);

      // Names: whole records, each pointing at one of the shared blobs.
      const meta = new FsMetaStore(join(dir.path, 'meta'));
      const names = await meta.names.list();
      assert.equal(names.length, 11);
      for (const rec of names) {
        if (rec.name.endsWith('/counter:latest')) continue;
        assert.ok(expected.has(rec.target.digest), `${rec.name} points at an unknown blob`);
        assert.ok(['1', '2'].includes(rec.target.annotations?.worker ?? ''));
      }
      // The locked read-modify-write lost no update.
      const counter = await meta.names.get('example.com/race/counter:latest');
      assert.equal(counter?.target.annotations?.n, String(2 * COUNTER));

      // Cache index: both appends of every key survived intact; the newest is from one worker.
      for (let i = 0; i < BLOBS; i++) {
        const history = await meta.cacheIndex.history(`key-${i}`);
        assert.equal(history.length, 2, `key-${i} has ${history.length} valid lines`);
        const entry = await meta.cacheIndex.get(`key-${i}`);
        assert.equal((entry?.value as { digest: string } | undefined)?.digest, sha256Of(sharedBlob(i)));
      }
      assert.deepEqual(await readdir(meta.tempDir), []);
      assert.deepEqual(await readdir(join(dir.path, 'meta', 'v1', 'locks')), []);
    } finally {
      for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
      await dir.cleanup();
    }
  });

  it('a process killed mid-ingest leaves nothing visible; cleanIngest removes its temp file', async () => {
    const dir = await makeTempDir('strata-kill-');
    const child = spawnWorker();
    try {
      const ingesting = waitFor(child, (m) => m === 'ingesting');
      child.send({ mode: 'hang-ingest', root: dir.path });
      await ingesting;
      child.kill('SIGKILL');
      await exited(child);
      const content = new FsContentStore(join(dir.path, 'content'));
      assert.deepEqual(await readdir(join(dir.path, 'content', 'blobs', 'sha256')), []);
      const blobs = [];
      for await (const b of content.walk()) blobs.push(b);
      assert.deepEqual(blobs, []);
      assert.equal((await readdir(content.ingestDir)).length, 1);
      assert.equal(await content.cleanIngest({ olderThanMs: 60_000 }), 0, 'too recent to remove');
      assert.equal(await content.cleanIngest({ olderThanMs: 0 }), 1);
      assert.deepEqual(await readdir(content.ingestDir), []);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await dir.cleanup();
    }
  });

  it('a lock held by a killed process is taken over without waiting for it to go stale', async () => {
    const dir = await makeTempDir('strata-lock-');
    const child = spawnWorker();
    try {
      const locked = waitFor(child, (m) => m === 'locked');
      child.send({ mode: 'hold-lock', root: dir.path });
      await locked;
      const meta = new FsMetaStore(join(dir.path, 'meta'));
      await assert.rejects(meta.acquireLock('gc', { timeoutMs: 100 }), { code: 'EUNAVAILABLE' });
      child.kill('SIGKILL');
      await exited(child);
      const started = Date.now();
      const lock = await meta.acquireLock('gc', { staleMs: 600_000, timeoutMs: 5_000 });
      assert.ok(Date.now() - started < 5_000);
      await lock.release();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await dir.cleanup();
    }
  });
});
