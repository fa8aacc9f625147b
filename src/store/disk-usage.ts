// `strata system df`: space used by images, blobs, snapshots and the build cache.
//
//   Images       TOTAL images, ACTIVE = named ones; SIZE = uncompressed size of their distinct
//                layers (what `images` shows as SIZE); RECLAIMABLE = that of the layers only unnamed
//                (dangling) images use (`image prune`).
//   Layers       every blob; ACTIVE = reachable from names, image records or the build cache;
//                RECLAIMABLE = the unreachable ones (what `prune` sweeps after the grace period).
//   Snapshots    SIZE = disk use of the snapshots directory (store.snapshotsDir); ACTIVE = live (gc.ts);
//                RECLAIMABLE = committed snapshots no image or cache entry needs.
//   Build Cache  cache index entries; SIZE = bytes of blobs only the cache keeps alive.

import { existsSync } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { type GcStore, markLive, type SnapshotCollector } from './gc.js';

export interface UsageRow {
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

export interface DiskUsage {
  images: UsageRow;
  layers: UsageRow;
  snapshots: UsageRow;
  buildCache: UsageRow;
}

/** Allocated bytes under `path` (hard links counted once); 0 when it does not exist. */
export async function directorySize(path: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(p);
    } catch {
      return;
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    total += st.blocks * 512;
    if (!st.isDirectory()) return;
    let dir: Awaited<ReturnType<typeof opendir>>;
    try {
      dir = await opendir(p);
    } catch {
      return;
    }
    for await (const entry of dir) await walk(join(p, entry.name));
  };
  await walk(path);
  return total;
}

export async function diskUsage(
  store: GcStore & { snapshotsDir?: string },
  options: { snapshots?: SnapshotCollector } = {},
): Promise<DiskUsage> {
  const live = await markLive(store);
  const sizes = new Map<string, number>();
  for await (const info of store.content.walk()) sizes.set(info.digest, info.size);
  const sizeOf = (digests: Iterable<string>) => {
    let n = 0;
    for (const d of digests) n += sizes.get(d) ?? 0;
    return n;
  };

  const images = await store.images.list();
  const layerBytes = new Map<string, number>();
  const activeLayers = new Set<string>();
  const danglingLayers = new Set<string>();
  let active = 0;
  for (const image of images) {
    const named = image.names.length > 0 || image.repoDigests.length > 0;
    if (named) active++;
    const sizesOfLayers = await store.images.layerSizes(image);
    image.config.rootfs.diff_ids.forEach((diffId, i) => {
      layerBytes.set(diffId, sizesOfLayers[i] ?? 0);
      (named ? activeLayers : danglingLayers).add(diffId);
    });
  }
  const sumLayers = (ids: Iterable<string>) => {
    let n = 0;
    for (const id of ids) n += layerBytes.get(id) ?? 0;
    return n;
  };
  const cacheOnly = [...live.blobs].filter((d) => !live.imageBlobs.has(d));

  let liveCount = 0;
  let liveBytes = 0;
  for (const [digest, size] of sizes) {
    if (live.blobs.has(digest)) {
      liveCount++;
      liveBytes += size;
    }
  }
  const allBytes = sizeOf(sizes.keys());

  const snapshots: UsageRow = { total: 0, active: 0, size: 0, reclaimable: 0 };
  if (options.snapshots !== undefined) {
    const list = await options.snapshots.list();
    snapshots.total = list.length;
    for (const s of list) {
      const needed = s.kind !== 'committed' || live.snapshots.has(s.name);
      if (needed) snapshots.active++;
      else snapshots.reclaimable += (await options.snapshots.usage(s.name).catch(() => ({ size: 0 }))).size;
    }
    snapshots.size = (await options.snapshots.usage().catch(() => ({ size: 0 }))).size;
    // The whole directory when there is one: orphans of crashed builds count too.
    if (store.snapshotsDir !== undefined && existsSync(store.snapshotsDir))
      snapshots.size = await directorySize(store.snapshotsDir);
  } else if (store.snapshotsDir !== undefined) {
    snapshots.size = await directorySize(store.snapshotsDir);
  }

  const cacheBytes = sizeOf(cacheOnly);
  return {
    images: {
      total: images.length,
      active,
      size: sumLayers(layerBytes.keys()),
      reclaimable: sumLayers([...danglingLayers].filter((id) => !activeLayers.has(id))),
    },
    layers: { total: sizes.size, active: liveCount, size: allBytes, reclaimable: allBytes - liveBytes },
    snapshots,
    buildCache: {
      total: live.cacheEntries,
      active: live.cacheEntries - live.brokenCacheKeys.size,
      size: cacheBytes,
      reclaimable: cacheBytes,
    },
  };
}
