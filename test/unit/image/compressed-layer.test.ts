// CompressedLayers: the gzip form of an uncompressed layer is written once and remembered; the
// record outlives its blob (a push asks the registry for that digest first), and prune() drops
// only the records of layers the store no longer has.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { CompressedLayers } from '../../../src/image/compressed-layer.js';
import { writeLayer } from '../../../src/image/write-layer.js';
import { Store } from '../../../src/store/store.js';
import { CLI_LAUNCHER } from '../../helpers/cli-paths.js';
import { tarBytes, withStore } from '../../helpers/image-fixtures.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';

describe('CompressedLayers', () => {
  it('remembers a compressed form, keeps the record when that blob goes, drops it when the layer goes', async () => {
    await withStore(async (store) => {
      const layers = [];
      for (const body of ['kept layer', 'removed layer']) {
        const tar = await tarBytes([{ path: 'f.txt', body }]);
        layers.push(
          (await writeLayer(store.content, Readable.from([tar]), { compression: 'none' })).descriptor,
        );
      }
      const [kept, removed] = layers as [(typeof layers)[0], (typeof layers)[0]];
      const compressed = new CompressedLayers(store);
      const keptGz = await compressed.ensure(kept);
      const removedGz = await compressed.ensure(removed);
      assert.notEqual(keptGz.digest, kept.digest);
      assert.deepEqual(await compressed.known(kept), keptGz);

      // GC took the compressed blob of one and the uncompressed layer of the other.
      await store.content.delete(keptGz.digest);
      await store.content.delete(removed.digest);
      assert.equal(await compressed.prune(), 1);
      assert.deepEqual(await compressed.known(kept), keptGz, 'still a hint for the next push');
      assert.equal(await compressed.known(removed), undefined);
      assert.ok(await store.content.has(removedGz.digest), 'prune() removes records, not blobs');
      assert.equal(await compressed.prune(), 0);
    });
  });
});

describe('strata system prune', () => {
  it('drops the compressed-form records of the layers its GC removed', async () => {
    const tmp = await makeTempDir('strata-prune-compressed-');
    try {
      const root = join(tmp.path, 'store');
      const store = await Store.open(root);
      const tar = await tarBytes([{ path: 'f.txt', body: 'no image uses this layer' }]);
      const layer = (await writeLayer(store.content, Readable.from([tar]), { compression: 'none' }))
        .descriptor;
      const compressed = new CompressedLayers(store);
      await compressed.ensure(layer);
      assert.ok((await compressed.known(layer)) !== undefined);
      const r = spawnSync(process.execPath, [CLI_LAUNCHER, 'system', 'prune', '-f'], {
        env: {
          ...process.env,
          STRATA_ROOT: root,
          STRATA_GC_GRACE: '0',
          XDG_CACHE_HOME: join(tmp.path, 'cache'),
        },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(await store.content.has(layer.digest), false, 'GC removed the layer');
      assert.equal(await compressed.known(layer), undefined, 'and prune its record');
    } finally {
      await tmp.cleanup();
    }
  });
});
