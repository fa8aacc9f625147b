// build() wired to the real things: the local store, the snapshotter that works here
// (overlay, or the copy fallback), layers written into the content store, and the RUN
// executor (an OCI runtime, or chroot isolation).

import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BuilderError } from '../errors.js';
import { writeLayer } from '../image/write-layer.js';
import type { Registries } from '../registry/registries.js';
import { probeSnapshotter } from '../snapshot/probe.js';
import type { Store } from '../store/store.js';
import { type BuildOptions, type BuildResult, type BuildStore, build } from './engine.js';
import { chooseExecutor, type Isolation } from './run-executor.js';
import type { RunExecutor } from './steps/run.js';

export interface StoreBuildOptions
  extends Omit<BuildOptions, 'store' | 'snapshotter' | 'writeLayer' | 'runExecutor'> {
  isolation?: Isolation;
  /**
   * Pull base images missing from the store through these; without them a missing base is an
   * error. A function is called only when a pull is needed (the registry client is not loaded
   * on a build that needs none).
   */
  registries?: Registries | (() => Promise<Registries>);
  /** `build --pull`: check the registry for every base image, even one already in the store. */
  pull?: boolean;
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
  const { registries } = options;
  const buildStore = buildStoreOf(store);
  let resolveMissingBase = options.resolveMissingBase;
  if (registries !== undefined) {
    const pulls = new Map<string, Promise<unknown>>();
    const pull = async (ref: string) => {
      const { parsePlatform, pullImage } = await import('../registry/pull.js');
      const platform = options.platform === undefined ? undefined : parsePlatform(options.platform);
      return pullImage(store, ref, typeof registries === 'function' ? await registries() : registries, {
        ...(platform === undefined ? {} : { platform }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    };
    const pullBase = (ref: string) => {
      let p = pulls.get(ref);
      if (p === undefined) {
        p = pull(ref);
        pulls.set(ref, p);
      }
      return p;
    };
    resolveMissingBase ??= async (ref) => {
      try {
        await pullBase(ref);
      } catch (err) {
        if (options.signal?.aborted) throw err;
        const code = err instanceof BuilderError ? err.code : 'EUNAVAILABLE';
        const hint = err instanceof BuilderError && err.hint !== undefined ? `${err.hint} ` : '';
        // The engine re-raises this located in the Dockerfile, keeping message and hint only.
        const why = err instanceof Error ? err.message : String(err);
        throw new BuilderError(
          code,
          `base image "${ref}" is not in the local store and pulling it failed: ${why}`,
          {
            cause: err,
            hint: `${hint}An image can also come from strata load -i FILE or strata import ROOTFS.tar ${ref}.`,
          },
        );
      }
      return store.images.get(ref, { names: false });
    };
    if (options.pull === true) {
      buildStore.images = {
        get: async (ref, o) => {
          // An image ID or a name that is no registry reference stays local.
          if (!/^(sha256:)?[a-f0-9]{12,64}$/.test(ref)) await pullBase(ref);
          return store.images.get(ref, o);
        },
        put: (config, layers, o) => store.images.put(config, layers, o),
        tag: (target, name) => store.images.tag(target as never, name),
      };
    }
  }
  return build({
    ...options,
    ...(resolveMissingBase === undefined ? {} : { resolveMissingBase }),
    store: buildStore,
    snapshotter: choice.snapshotter,
    writeLayer: async (tar: Readable | AsyncIterable<Uint8Array>, signal?: AbortSignal) => {
      const layer = await writeLayer(store.content, tar, {
        compression: options.compression?.type ?? 'none',
        ...(options.compression?.level === undefined ? {} : { level: options.compression.level }),
        ...(signal ? { signal } : {}),
        // Durable with the image's config and manifest, before its record (ImageStore.put).
        deferDirSync: true,
      });
      // `history` shows each layer's uncompressed size without reading the layer again; an
      // uncompressed layer's size is its descriptor's, so it needs no record (nor its fsyncs).
      if (layer.descriptor.digest !== layer.diffId)
        await store.images.recordLayer(layer.diffId, layer.uncompressedSize);
      return { descriptor: layer.descriptor, diffId: layer.diffId, uncompressedSize: layer.uncompressedSize };
    },
    runExecutor,
  });
}
