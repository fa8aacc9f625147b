// Processes on one store at once: two builders (writing the same blob, and blobs whose content
// old, unreferenced images left behind) and a pruner (rmi + prune + GC in a loop). Afterwards
// the store is consistent (`system check` finds nothing), every name the builders kept is a
// valid image, the old garbage is gone, and the victims the pruner removed are gone.

import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { utimes } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateImage } from '../../../src/image/validate-image.js';
import { checkStore } from '../../../src/store/check.js';
import { Store } from '../../../src/store/store.js';
import { addLayer, configFor, randomImage } from '../../helpers/image-fixtures.js';
import { oldLayerFiles, type WorkerReport } from '../../helpers/image-race-data.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';

const WORKER = fileURLToPath(new URL('../../helpers/image-store-worker.js', import.meta.url));

function start(request: object): { child: ChildProcess; ready: Promise<void>; done: Promise<WorkerReport> } {
  const child = fork(WORKER, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let onReady: () => void;
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  const done = new Promise<WorkerReport>((resolve, reject) => {
    child.on('message', (m: Record<string, unknown>) => {
      if (m.ready) onReady();
      else if (m.done) resolve(m.done as WorkerReport);
      else if (m.error) reject(new Error(`worker failed: ${m.error}`));
    });
    child.once('exit', (code) => reject(new Error(`worker exited (code ${code}) before reporting`)));
  });
  child.send(request);
  return { child, ready, done };
}

describe('builders and a pruner on one store', () => {
  it('corrupt nothing', async () => {
    const dir = await makeTempDir('strata-image-race-');
    const children: ChildProcess[] = [];
    try {
      const store = await Store.open(dir.path);
      // Old garbage: images removed long ago, whose layer content the builders will write again.
      const oldBlobs: string[] = [];
      for (let k = 0; k < 4; k++) {
        const layer = await addLayer(store, oldLayerFiles(k));
        const image = await store.images.put(configFor([layer], { author: `old ${k}` }), [layer.descriptor]);
        oldBlobs.push(image.manifestDescriptor.digest, image.id);
        await store.images.remove(image.id);
      }
      for (let v = 0; v < 3; v++) await store.images.tag(await randomImage(store), `victim:${v}`);
      const hourAgo = new Date(Date.now() - 3600_000);
      for await (const info of store.content.walk())
        await utimes(store.content.blobPath(info.digest), hourAgo, hourAgo);

      const workers = [
        start({ mode: 'builder', root: dir.path, name: 'alpha', images: 9 }),
        start({ mode: 'builder', root: dir.path, name: 'beta', images: 9 }),
        start({ mode: 'pruner', root: dir.path, rounds: 12 }),
      ];
      children.push(...workers.map((w) => w.child));
      await Promise.all(workers.map((w) => w.ready));
      for (const w of workers) w.child.send({ go: true });
      const [alpha, beta, pruner] = await Promise.all(workers.map((w) => w.done));

      const result = await checkStore(store);
      assert.deepEqual(result.problems, []);
      const kept = [...(alpha as WorkerReport).names, ...(beta as WorkerReport).names];
      assert.equal(kept.length, 12);
      for (const name of kept) await validateImage(store, await store.images.get(name));
      for (const digest of oldBlobs)
        assert.equal(await store.content.has(digest as never), false, `${digest} swept`);
      for (let v = 0; v < 3; v++) assert.equal(await store.images.find(`victim:${v}`), undefined);
      assert.ok((pruner as WorkerReport).collected >= oldBlobs.length);
      const names = (await store.images.list()).flatMap((i) => i.names).sort();
      assert.deepEqual(names, kept.sort());
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      await dir.cleanup();
    }
  });
});
