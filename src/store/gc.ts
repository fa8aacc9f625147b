// Garbage collection: mark what is live, sweep the rest (containerd's metadata GC, simplified).
//
// Roots:
//   * every name's target, and every image record's target (manifest → config + layers; an
//     index → each of its manifests present);
//   * the build-cache index: every descriptor ({mediaType, digest}) and every bare digest string
//     found anywhere in an entry's value is kept (a manifest or index descriptor with its tree).
//     `strata prune` keeps the build cache; dropping cache entries is `builder prune`'s job
//     (a later issue). Entries whose blobs are already gone are compacted away.
//   * snapshots: for each live image the ChainIDs of its layers (the engine names committed
//     snapshots by ChainID), plus every string in a cache entry under a key containing
//     "snapshot" and every digest string there; active snapshots (a build in progress) are
//     never collected.
// Sweep: blobs, committed snapshots and layer-size records that are not live AND older than the
// grace period (default 10 minutes), so what a concurrent build or load has just written, and
// not yet recorded, survives. Abandoned ingest and temp files older than an hour go too.
// Marking and the blob sweep run under meta.withLock('gc'); ImageStore.put takes the same lock
// for its final check-and-record. Snapshots are swept after the lock is released (measuring
// them can take a while, and put() does not depend on them).

import type { Digest } from '../digest/digest.js';
import { isDigest } from '../digest/digest.js';
import { isBuilderError } from '../errors.js';
import { chainIds } from '../oci/chain-id.js';
import { isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import { parseConfig, parseIndex, parseManifest } from '../oci/parse.js';
import type { Descriptor } from '../oci/types.js';
import type { BlobInfo, ContentStore } from './content/content-store.js';
import { GC_LOCK, type ImageStore, type StoredImage } from './image-store.js';
import type { FsMetaStore } from './meta/meta-store.js';

export const DEFAULT_GC_GRACE_MS = 10 * 60 * 1000;

/** What GC needs of a store (Store satisfies it). */
export interface GcStore {
  content: ContentStore;
  meta: FsMetaStore;
  images: ImageStore;
}

/** The part of a Snapshotter (src/snapshot) GC uses; the CLI passes the real one. */
export interface SnapshotCollector {
  list(): Promise<
    Array<{ name: string; kind: string; parents: string[]; createdAt: string; committedAt?: string }>
  >;
  remove(name: string): Promise<void>;
  usage(name?: string): Promise<{ size: number }>;
  /** Files shared by hard link between snapshots (snapshot/file-pool.ts): pruned after them. */
  filePool?: { prune(): Promise<{ removed: number; bytes: number }> };
}

export interface LiveSet {
  /** Blobs reachable from names, image records or the build cache. */
  blobs: Set<string>;
  /** Blobs reachable from names and image records alone. */
  imageBlobs: Set<string>;
  /** diffIDs of live images. */
  diffIds: Set<string>;
  /** Snapshot names to keep. */
  snapshots: Set<string>;
  /** Cache keys whose descriptors point at blobs that are gone. */
  brokenCacheKeys: Set<string>;
  cacheEntries: number;
}

export interface GcOptions {
  /** Spare blobs, snapshots and records younger than this. Default 10 minutes. */
  gracePeriodMs?: number;
  snapshots?: SnapshotCollector;
  /** Report what would go, remove nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface GcResult {
  removedBlobs: BlobInfo[];
  /** Bytes of removed blobs plus removed snapshots. */
  reclaimedBytes: number;
  removedSnapshots: string[];
  /** Unreferenced blobs left alone because they are younger than the grace period. */
  keptYoung: number;
  removedCacheEntries: number;
  removedLayerRecords: number;
}

export interface PruneImagesOptions {
  /** docker image prune -a: every image not in use, named or not. */
  all?: boolean;
  /** Image IDs in use (by containers): never removed. */
  inUse?: ReadonlySet<string>;
  gracePeriodMs?: number;
}

export interface PruneImagesResult {
  removed: Digest[];
  /** docker's "Deleted Images:" list: `untagged: app:1.0`, `deleted: sha256:…`. */
  lines: string[];
}

const SNAPSHOT_KEY_RE = /snapshot/i;

interface CacheRefs {
  descriptors: Descriptor[];
  digests: string[];
  snapshots: string[];
}

function cacheRefs(value: unknown): CacheRefs {
  const out: CacheRefs = { descriptors: [], digests: [], snapshots: [] };
  const walk = (v: unknown, key: string, depth: number): void => {
    if (depth > 32) return;
    if (typeof v === 'string') {
      if (isDigest(v)) out.digests.push(v);
      if (SNAPSHOT_KEY_RE.test(key) && v !== '') out.snapshots.push(v);
      return;
    }
    if (Array.isArray(v)) {
      for (const item of v) walk(item, key, depth + 1);
      return;
    }
    if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (typeof o.mediaType === 'string' && isDigest(o.digest))
        out.descriptors.push({ mediaType: o.mediaType, digest: o.digest, size: Number(o.size) || 0 });
      for (const [k, item] of Object.entries(o)) walk(item, k, depth + 1);
    }
  };
  walk(value, '', 0);
  return out;
}

/** Computes what is live. Reads only; callers that sweep must hold the gc lock. */
export async function markLive(store: GcStore): Promise<LiveSet> {
  const live: LiveSet = {
    blobs: new Set(),
    imageBlobs: new Set(),
    diffIds: new Set(),
    snapshots: new Set(),
    brokenCacheKeys: new Set(),
    cacheEntries: 0,
  };
  const { content } = store;

  const markTree = async (d: Descriptor, into: Set<string>, depth = 0): Promise<void> => {
    if (into.has(d.digest) || depth > 8) return;
    into.add(d.digest);
    try {
      if (isManifestMediaType(d.mediaType)) {
        const manifest = parseManifest(await content.readBytes(d.digest));
        into.add(manifest.config.digest);
        for (const layer of manifest.layers) into.add(layer.digest);
        if (into === live.imageBlobs) {
          const config = parseConfig(await content.readBytes(manifest.config.digest));
          const diffIds = config.rootfs?.diff_ids ?? [];
          for (const diffId of diffIds) live.diffIds.add(diffId);
          for (const chain of chainIds(diffIds)) live.snapshots.add(chain);
        }
      } else if (isIndexMediaType(d.mediaType)) {
        const index = parseIndex(await content.readBytes(d.digest));
        for (const child of index.manifests) await markTree(child, into, depth + 1);
      }
    } catch (err) {
      // A missing or unreadable document keeps nothing below it; `system check` reports it.
      if (!isBuilderError(err)) throw err;
    }
  };

  for (const name of await store.meta.names.list()) await markTree(name.target, live.imageBlobs);
  for (const rec of await store.images.records.list()) await markTree(rec.value.target, live.imageBlobs);
  for (const digest of live.imageBlobs) live.blobs.add(digest);

  for await (const entry of store.meta.cacheIndex.entries()) {
    live.cacheEntries++;
    const refs = cacheRefs(entry.value);
    for (const d of refs.descriptors) {
      if (!(await content.has(d.digest))) live.brokenCacheKeys.add(entry.key);
      await markTree(d, live.blobs);
    }
    for (const digest of refs.digests) {
      live.blobs.add(digest);
      live.snapshots.add(digest);
    }
    for (const name of refs.snapshots) live.snapshots.add(name);
  }
  return live;
}

function olderThan(time: Date | string | undefined, cutoff: number): boolean {
  if (time === undefined) return true;
  const ms = typeof time === 'string' ? Date.parse(time) : time.getTime();
  return Number.isNaN(ms) || ms <= cutoff;
}

/**
 * Removes dangling images (or, with `all`, every image not in use), as `docker image prune`: their names
 * and records go; their blobs are left to collectGarbage(). An unnamed image recorded within
 * the grace period is spared (a build may be about to tag it).
 */
export async function pruneImages(
  store: GcStore,
  options: PruneImagesOptions = {},
): Promise<PruneImagesResult> {
  const cutoff = Date.now() - (options.gracePeriodMs ?? DEFAULT_GC_GRACE_MS);
  const result: PruneImagesResult = { removed: [], lines: [] };
  const images: StoredImage[] = await store.images.list();
  for (const image of images) {
    const dangling = image.names.length === 0 && image.repoDigests.length === 0;
    if (!dangling && options.all !== true) continue;
    if (options.inUse?.has(image.id)) continue;
    if (dangling && !olderThan(image.storedAt, cutoff)) continue;
    const removed = await store.images.remove(image.id, { force: true });
    for (const line of removed.lines) {
      const colon = line.indexOf(': ');
      result.lines.push(`${line.slice(0, colon).toLowerCase()}${line.slice(colon)}`);
    }
    result.removed.push(...removed.deleted);
  }
  return result;
}

/** Mark and sweep blobs under the gc lock, then snapshots, stale records and abandoned temp files. */
export async function collectGarbage(store: GcStore, options: GcOptions = {}): Promise<GcResult> {
  const grace = options.gracePeriodMs ?? DEFAULT_GC_GRACE_MS;
  const dryRun = options.dryRun === true;
  const cutoff = Date.now() - grace;
  const result: GcResult = {
    removedBlobs: [],
    reclaimedBytes: 0,
    removedSnapshots: [],
    keptYoung: 0,
    removedCacheEntries: 0,
    removedLayerRecords: 0,
  };
  // Under the lock: what put() races with (marking and sweeping blobs). Snapshots, which can
  // take long to measure, and the rest come after, so a build's put() never waits on them.
  const live = await store.meta.withLock(
    GC_LOCK,
    async () => {
      const live = await markLive(store);
      for await (const info of store.content.walk()) {
        options.signal?.throwIfAborted();
        if (live.blobs.has(info.digest)) continue;
        if (!olderThan(info.createdAt, cutoff)) {
          result.keptYoung++;
          continue;
        }
        // Look again right before deleting: a writer that re-wrote the blob since the walk
        // refreshed its age. (What remains is a window of a few microseconds, in which case
        // the writer's put() finds the blob missing and fails cleanly.)
        const now = await store.content.stat(info.digest).catch(() => undefined);
        if (now === undefined) continue;
        if (!olderThan(now.createdAt, cutoff)) {
          result.keptYoung++;
          continue;
        }
        if (dryRun || (await store.content.delete(info.digest))) {
          result.removedBlobs.push(info);
          result.reclaimedBytes += info.size;
        }
      }
      return live;
    },
    options.signal === undefined ? {} : { signal: options.signal },
  );

  if (options.snapshots !== undefined) {
    const all = await options.snapshots.list();
    const candidates = all
      .filter(
        (s) =>
          s.kind === 'committed' &&
          !live.snapshots.has(s.name) &&
          olderThan(s.committedAt ?? s.createdAt, cutoff),
      )
      .sort((a, b) => b.parents.length - a.parents.length);
    for (const snap of candidates) {
      options.signal?.throwIfAborted();
      try {
        const { size } = await options.snapshots.usage(snap.name);
        if (!dryRun) await options.snapshots.remove(snap.name);
        result.removedSnapshots.push(snap.name);
        result.reclaimedBytes += size;
      } catch (err) {
        if (!isBuilderError(err)) throw err; // e.g. it has children by now: keep it
      }
    }
    // Pool files no snapshot shares any more: their bytes come back only now.
    if (!dryRun && options.snapshots.filePool !== undefined)
      result.reclaimedBytes += (await options.snapshots.filePool.prune()).bytes;
  }

  if (!dryRun) {
    for (const rec of await store.images.layers.list()) {
      if (live.diffIds.has(rec.key) || !olderThan(rec.updatedAt, cutoff)) continue;
      if (await store.images.layers.delete(rec.key)) result.removedLayerRecords++;
    }
    if (live.brokenCacheKeys.size > 0) {
      await store.meta.cacheIndex.compact({ keep: (entry) => !live.brokenCacheKeys.has(entry.key) });
      result.removedCacheEntries = live.brokenCacheKeys.size;
    }
    await store.content.cleanIngest();
    await store.meta.cleanTemp();
  }
  return result;
}
