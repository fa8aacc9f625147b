// build() wired to the real things: the local store, the snapshotter that works here
// (overlay, or the copy fallback), layers written into the content store, and the RUN
// executor (an OCI runtime, or chroot isolation).

import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { writeLayer } from '../image/write-layer.js';
import { probeSnapshotter } from '../snapshot/probe.js';
import type { Store } from '../store/store.js';
import { type BuildOptions, type BuildResult, type BuildStore, build } from './engine.js';
import { chooseExecutor, type Isolation } from './run-executor.js';
import type { RunExecutor } from './steps/run.js';

export interface StoreBuildOptions
  extends Omit<BuildOptions, 'store' | 'snapshotter' | 'writeLayer' | 'runExecutor'> {
  isolation?: Isolation;
}

export function buildStoreOf(store: Store): BuildStore {
  return {
    root: store.root,
    content: store.content,
    cache: store.meta.cacheIndex,
    images: store.images,
  };
}

export async function buildInStore(store: Store, options: StoreBuildOptions): Promise<BuildResult> {
  const warn = (m: string) => options.onWarning?.(m);
  const choice = await probeSnapshotter(store.snapshotsDir);
  if (choice.reason) warn(`using the copy snapshotter: ${choice.reason}`);
  let executor: Promise<RunExecutor> | undefined;
  const runExecutor: RunExecutor = {
    get name() {
      return 'lazy';
    },
    // Probing the runtime costs a process: only when a RUN step actually misses the cache.
    run: async (request) => {
      executor ??= chooseExecutor(options.isolation ?? 'default', join(store.root, 'tmp'), warn);
      return (await executor).run(request);
    },
  };
  return build({
    ...options,
    store: buildStoreOf(store),
    snapshotter: choice.snapshotter,
    writeLayer: async (tar: Readable, signal?: AbortSignal) => {
      const layer = await writeLayer(store.content, tar, {
        compression: 'gzip',
        ...(options.gzipLevel === undefined ? {} : { level: options.gzipLevel }),
        ...(signal ? { signal } : {}),
      });
      // `history` shows each layer's uncompressed size without reading the layer again.
      await store.images.recordLayer(layer.diffId, layer.uncompressedSize);
      return { descriptor: layer.descriptor, diffId: layer.diffId, uncompressedSize: layer.uncompressedSize };
    },
    runExecutor,
  });
}
