import assert from 'node:assert/strict';
import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sha256Of } from '../../../src/digest/digest.js';
import { BuilderError } from '../../../src/errors.js';
import { chainIds } from '../../../src/oci/chain-id.js';
import { checkStore } from '../../../src/store/check.js';
import { diskUsage } from '../../../src/store/disk-usage.js';
import { collectGarbage, markLive, pruneImages, type SnapshotCollector } from '../../../src/store/gc.js';
import { GC_LOCK } from '../../../src/store/image-store.js';
import type { Store } from '../../../src/store/store.js';
import { randomImage, withStore } from '../../helpers/image-fixtures.js';

const HOUR_AGO = new Date(Date.now() - 3600_000);

/** Makes every blob look an hour old, as if written long before this GC. */
async function ageBlobs(store: Store): Promise<void> {
  for await (const info of store.content.walk())
    await utimes(store.content.blobPath(info.digest), HOUR_AGO, HOUR_AGO);
}

async function blobCount(store: Store): Promise<number> {
  let n = 0;
  for await (const _ of store.content.walk()) n++;
  return n;
}

class FakeSnapshots implements SnapshotCollector {
  readonly items: Array<{ name: string; kind: string; parents: string[]; createdAt: string; size: number }> =
    [];
  removed: string[] = [];
  add(name: string, kind: string, parents: string[] = [], createdAt = HOUR_AGO.toISOString(), size = 4096) {
    this.items.push({ name, kind, parents, createdAt, size });
  }
  async list() {
    return this.items.filter((s) => !this.removed.includes(s.name));
  }
  async remove(name: string) {
    const children = (await this.list()).filter((s) => s.parents.includes(name));
    if (children.length > 0) throw new BuilderError('EPRECONDITION', `${name} has children`);
    this.removed.push(name);
  }
  async usage(name?: string) {
    const list = await this.list();
    return {
      size: list.filter((s) => name === undefined || s.name === name).reduce((n, s) => n + s.size, 0),
    };
  }
}

describe('pruneImages', () => {
  it('removes dangling images only, or every image with all, in docker prune wording', async () => {
    await withStore(async (store) => {
      const named = await randomImage(store);
      await store.images.tag(named, 'app:1');
      const dangling = await randomImage(store);
      const fresh = await randomImage(store);
      // The fresh dangling image is within the grace period (a build may be about to tag it).
      const old = new Date(Date.now() - 3600_000).toISOString();
      await store.images.records.put(dangling.id, { target: dangling.manifestDescriptor, createdAt: old });
      await store.images.records.put(named.id, { target: named.manifestDescriptor, createdAt: old });

      const first = await pruneImages(store);
      assert.deepEqual(first.lines, [`deleted: ${dangling.id}`]);
      assert.ok(await store.images.find(fresh.id), 'a fresh dangling image survives');
      assert.ok(await store.images.find('app:1'));

      const used = await pruneImages(store, {
        all: true,
        gracePeriodMs: 0,
        inUse: new Set([named.id, fresh.id]),
      });
      assert.deepEqual(used.lines, [], 'images containers use are kept');
      const all = await pruneImages(store, { all: true, gracePeriodMs: 0 });
      assert.deepEqual(
        all.lines.sort(),
        [`deleted: ${fresh.id}`, `deleted: ${named.id}`, 'untagged: app:1'].sort(),
      );
      assert.deepEqual(await store.images.list(), []);
    });
  });
});

describe('collectGarbage', () => {
  it('sweeps unreferenced blobs older than the grace period and keeps live ones', async () => {
    await withStore(async (store) => {
      const keep = await randomImage(store);
      await store.images.tag(keep, 'keep:1');
      const gone = await randomImage(store, { layers: 3 });
      const before = await blobCount(store);
      await store.images.remove(gone.id);
      await ageBlobs(store);
      const young = await store.content.writeBytes(Buffer.from('written just now by a concurrent build'));

      const result = await collectGarbage(store);
      assert.equal(result.removedBlobs.length, 5, 'manifest, config and three layers');
      assert.equal(result.keptYoung, 1);
      assert.equal(
        result.reclaimedBytes,
        result.removedBlobs.reduce((n, b) => n + b.size, 0),
      );
      assert.equal(await blobCount(store), before - 5 + 1);
      assert.ok(await store.content.has(young.digest));
      assert.deepEqual((await checkStore(store)).problems, []);

      const again = await collectGarbage(store, { gracePeriodMs: 0 });
      assert.deepEqual(
        again.removedBlobs.map((b) => b.digest),
        [young.digest],
      );
      // Layer-size records of removed images go too; those of live images stay.
      assert.equal(await store.images.layers.get(gone.config.rootfs.diff_ids[0] as string), undefined);
      assert.ok(await store.images.layers.get(keep.config.rootfs.diff_ids[0] as string));
    });
  });

  it('re-writing an old blob makes it young again (a build reusing it survives a prune)', async () => {
    await withStore(async (store) => {
      const blob = await store.content.writeBytes(Buffer.from('shared layer'));
      await ageBlobs(store);
      await store.content.writeBytes(Buffer.from('shared layer'));
      const result = await collectGarbage(store);
      assert.equal(result.removedBlobs.length, 0);
      assert.ok(await store.content.has(blob.digest));
    });
  });

  it('keeps what the build cache points at, and drops cache entries whose blobs are gone', async () => {
    await withStore(async (store) => {
      const cached = await randomImage(store, { layers: 1 });
      await store.images.remove(cached.id);
      const layer = cached.manifest.layers[0];
      await store.meta.cacheIndex.put('step-key-1', {
        preimage: { x: sha256Of('ctx') },
        layer: { descriptor: layer },
      });
      await store.meta.cacheIndex.put('step-key-2', {
        layer: {
          descriptor: {
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            digest: sha256Of('gone'),
            size: 1,
          },
        },
      });
      await ageBlobs(store);
      const live = await markLive(store);
      assert.ok(live.blobs.has(layer?.digest as string));
      assert.deepEqual([...live.brokenCacheKeys], ['step-key-2']);
      const result = await collectGarbage(store);
      assert.equal(result.removedBlobs.length, 2, 'the manifest and config go, the cached layer stays');
      assert.ok(await store.content.has(layer?.digest as typeof cached.id));
      assert.equal(result.removedCacheEntries, 1);
      assert.ok(await store.meta.cacheIndex.get('step-key-1'));
      assert.equal(await store.meta.cacheIndex.get('step-key-2'), undefined);
    });
  });

  it('removes committed snapshots no live image or cache entry needs, children first', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store, { layers: 2 });
      await store.images.tag(image, 'app:1');
      const [c1, c2] = chainIds(image.config.rootfs.diff_ids);
      const snaps = new FakeSnapshots();
      snaps.add(c1 as string, 'committed');
      snaps.add(c2 as string, 'committed', [c1 as string]);
      snaps.add('orphan-parent', 'committed');
      snaps.add('orphan-child', 'committed', ['orphan-parent']);
      snaps.add('run/step/abc', 'active', [c1 as string]);
      snaps.add('young', 'committed', [], new Date().toISOString());
      snaps.add('cached-snap', 'committed');
      await store.meta.cacheIndex.put('k', { snapshot: 'cached-snap' });
      const result = await collectGarbage(store, { snapshots: snaps });
      assert.deepEqual(result.removedSnapshots, ['orphan-child', 'orphan-parent']);
      assert.equal(result.reclaimedBytes, 2 * 4096);
    });
  });

  it('prunes the file pool after the snapshots (its bytes count as reclaimed), and not on a dry run', async () => {
    await withStore(async (store) => {
      const snaps = new FakeSnapshots();
      snaps.add('orphan', 'committed');
      const calls: string[] = [];
      const withPool = Object.assign(snaps, {
        filePool: {
          prune: async () => {
            calls.push(`prune after ${snaps.removed.join(',') || 'nothing'}`);
            return { removed: 3, bytes: 3 * 4096 };
          },
        },
      });
      const dry = await collectGarbage(store, { snapshots: withPool, dryRun: true });
      assert.deepEqual(calls, []);
      assert.equal(dry.reclaimedBytes, 4096);
      const result = await collectGarbage(store, { snapshots: withPool });
      assert.deepEqual(calls, ['prune after orphan']);
      assert.equal(result.reclaimedBytes, 4096 + 3 * 4096);
    });
  });

  it('runs under the gc lock', async () => {
    await withStore(async (store) => {
      const lock = await store.meta.acquireLock(GC_LOCK);
      try {
        await assert.rejects(
          store.meta.withLock(GC_LOCK, async () => undefined, { timeoutMs: 200 }),
          (err: unknown) => err instanceof BuilderError && err.code === 'EUNAVAILABLE',
        );
        let done = false;
        const gc = collectGarbage(store).then(() => {
          done = true;
        });
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(done, false, 'GC waits for the lock');
        await lock.release();
        await gc;
        assert.equal(done, true);
      } finally {
        await lock.release();
      }
    });
  });
});

describe('checkStore', () => {
  it('finds a corrupt blob, a missing layer and a dangling name', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store, { layers: 2 });
      await store.images.tag(image, 'app:1');
      const clean = await checkStore(store);
      assert.deepEqual(clean.problems, []);
      assert.equal(clean.names, 1);
      assert.equal(clean.images, 1);
      assert.equal(clean.blobs, 4);

      const [first, second] = image.manifest.layers;
      const path = store.content.blobPath(first?.digest as typeof image.id);
      await writeFile(path, 'tampered', { mode: 0o444 }).catch(async () => {
        const { chmod } = await import('node:fs/promises');
        await chmod(path, 0o644);
        await writeFile(path, 'tampered');
      });
      await store.content.delete(second?.digest as typeof image.id);
      await writeFile(join(store.content.ingestDir, '123-abandoned'), 'partial');

      const result = await checkStore(store);
      const kinds = result.problems.map((p) => `${p.kind} ${p.subject}`);
      assert.ok(kinds.includes(`blob ${first?.digest}`), kinds.join('\n'));
      assert.ok(kinds.includes('name docker.io/library/app:1'));
      assert.ok(kinds.includes(`image ${image.id}`));
      assert.ok(result.problems.some((p) => /layer 1 sha256:[0-9a-f]+ is missing/.test(p.message)));
      assert.ok(result.problems.some((p) => /layer 0 .* bytes, its descriptor says/.test(p.message)));
      assert.equal(result.abandonedIngests, 1);
    });
  });
});

describe('diskUsage', () => {
  it('counts images, blobs, snapshots and cache, with what prune would reclaim', async () => {
    await withStore(async (store) => {
      const named = await randomImage(store, { layers: 1 });
      await store.images.tag(named, 'app:1');
      const dangling = await randomImage(store, { layers: 1 });
      const stray = await store.content.writeBytes(Buffer.from('nobody uses me'));
      const snaps = new FakeSnapshots();
      snaps.add('x', 'committed');
      const usage = await diskUsage(store, { snapshots: snaps });
      assert.equal(usage.images.total, 2);
      assert.equal(usage.images.active, 1);
      const danglingSize = await store.images.imageSize(dangling);
      assert.equal(usage.images.size, (await store.images.imageSize(named)) + danglingSize);
      assert.equal(usage.images.reclaimable, danglingSize);
      assert.equal(usage.layers.total, 7);
      assert.equal(usage.layers.active, 6);
      assert.equal(usage.layers.reclaimable, stray.size);
      assert.deepEqual(usage.snapshots, { total: 1, active: 0, size: 4096, reclaimable: 4096 });
      assert.equal(usage.buildCache.total, 0);
    });
  });
});
