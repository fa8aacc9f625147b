// Layer chains ↔ snapshots, shared by the build engine and `strata run`. A committed snapshot per layer, named by the layer's ChainID,
// unpacked from the store only when a step needs the filesystem (a cache hit never does).
// A step works in a mounted, writable rootfs; what it changed becomes its layer.

import { mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { extractLayer } from '../archive/extract.js';
import { decompressLayer } from '../archive/layer-stream.js';
import type { Digest } from '../digest/digest.js';
import { BuilderError } from '../errors.js';
import { chainIds } from '../oci/chain-id.js';
import type { Descriptor } from '../oci/types.js';
import { LowerLayers } from '../snapshot/lower-layers.js';
import { withMounted } from '../snapshot/mount.js';
import type { Snapshotter } from '../snapshot/types.js';
import type { BlobProvider } from '../store/content/content-store.js';
import { lsetxattr, mknod, prefetchFiles, randomHex, S_IF } from '../sys/index.js';
import { changesToTar } from './layer-tar.js';

/** One layer of a chain: where its blob is, and what it unpacks to. */
export interface LayerRef {
  descriptor: Descriptor;
  diffId: Digest;
  /** Bytes of the uncompressed tar, for `history` sizes (0 when not known). */
  uncompressedSize: number;
}

/** Stores a layer tar (a stream, or the tar writer's generator of blocks). */
export type WriteLayerFn = (
  tar: Readable | AsyncIterable<Uint8Array>,
  signal?: AbortSignal,
) => Promise<LayerRef>;

export interface RootfsOptions {
  content: BlobProvider;
  snapshotter: Snapshotter;
  /** Where mount points are made (inside the store root, so a crash leaves them findable). */
  mountDir: string;
  writeLayer: WriteLayerFn;
  sourceDateEpoch?: number;
}

const snapshotName = (chainId: Digest) => `layer/${chainId}`;

/** An unmounted, empty mount point (rmdir; anything left in it is kept for a look). */
function removeMountPoint(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty or gone: left for cleanup
  }
}
const randomKey = (what: string) => `${what}/${Date.now()}-${randomHex(6)}`;

export class RootfsManager {
  constructor(private readonly options: RootfsOptions) {}

  /** Snapshot names for the chain, bottom first, unpacking any layer not yet unpacked. */
  async ensureChain(layers: readonly LayerRef[], signal?: AbortSignal): Promise<string[]> {
    const ids = chainIds(layers.map((l) => l.diffId));
    const names: string[] = [];
    for (let i = 0; i < layers.length; i++) {
      signal?.throwIfAborted();
      const name = snapshotName(ids[i] as Digest);
      const found = await this.options.snapshotter.find(name);
      if (found?.kind !== 'committed') await this.unpack(layers[i] as LayerRef, name, names, signal);
      names.push(name);
    }
    return names;
  }

  private async unpack(
    layer: LayerRef,
    name: string,
    parents: string[],
    signal?: AbortSignal,
  ): Promise<void> {
    const { snapshotter, content } = this.options;
    const key = randomKey('unpack');
    // Volatile: the layer blob is in the store, so a snapshot lost in a crash is unpacked again.
    await snapshotter.prepare(key, parents, {
      labels: { 'strata.layer': layer.descriptor.digest },
      volatile: true,
    });
    try {
      const info = await snapshotter.stat(key);
      const blob = await content.open(layer.descriptor.digest, signal ? { signal } : {});
      const { tar } = await decompressLayer(blob);
      const overlay = snapshotter.kind === 'overlay';
      await extractLayer(tar, info.dir, {
        whiteouts: overlay ? 'overlay' : 'apply',
        ...(overlay
          ? {
              makeWhiteout: async (p: string) => mknod(p, S_IF.CHR, 0, 0),
              makeOpaque: async (p: string) => lsetxattr(p, 'trusted.overlay.opaque', Buffer.from('y')),
            }
          : {}),
        makeDevice: async (p, node) =>
          mknod(
            p,
            (node.type === 'char' ? S_IF.CHR : node.type === 'block' ? S_IF.BLK : S_IF.FIFO) | node.mode,
            node.devmajor,
            node.devminor,
          ),
        setXattr: async (p, n, v) => lsetxattr(p, n, Buffer.from(v)),
        ...(signal ? { signal } : {}),
      });
      await this.commitOrAdopt(name, key);
    } catch (err) {
      await snapshotter.remove(key).catch(() => {});
      throw err;
    }
  }

  /** Commit; if another process committed the same name first, theirs is as good as ours. */
  private async commitOrAdopt(name: string, key: string): Promise<void> {
    const { snapshotter } = this.options;
    try {
      await snapshotter.commit(name, key);
    } catch (err) {
      const existing = await snapshotter.find(name);
      if (existing?.kind === 'committed') {
        await snapshotter.remove(key).catch(() => {});
        return;
      }
      throw err;
    }
  }

  private async mountPoint(): Promise<string> {
    mkdirSync(this.options.mountDir, { recursive: true });
    return mkdtempSync(join(this.options.mountDir, 'rootfs-'));
  }

  /**
   * Runs `fn` in a writable rootfs over `layers`. Returns the layer of what it changed; a step
   * that changed nothing still gives a layer (an empty tar), as BuildKit's does. The snapshot
   * is committed under the new ChainID.
   */
  async mutate(
    layers: readonly LayerRef[],
    fn: (rootfs: string) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<LayerRef> {
    const { snapshotter } = this.options;
    const parents = await this.ensureChain(layers, signal);
    const key = randomKey('step');
    // Volatile: what the step leaves is written as a layer blob (synced) before anyone relies on it.
    const mounts = await snapshotter.prepare(key, parents, { volatile: true });
    const target = await this.mountPoint();
    try {
      await withMounted(mounts, target, fn);
      signal?.throwIfAborted();
      return await this.commitStep(layers, key, signal);
    } catch (err) {
      await snapshotter.remove(key).catch(() => {});
      throw err;
    } finally {
      removeMountPoint(target);
    }
  }

  /**
   * As mutate(), but `fn` writes the new snapshot's own directory (an overlay upper dir) while
   * nothing is mounted on it, and looks up the layers below in their own directories, as a
   * read-only view of them would show them (`lowers`, undefined when there are none; nothing
   * is mounted for it). Overlay snapshotters only. `fn` must create only what the layers below do not have,
   * and give a directory it creates over one of theirs that directory's metadata (what
   * overlay's copy-up would do): the upper dir then holds what the same writes through the
   * mount would have left. COPY does this (build/steps/copy.ts, DirectCopy) to link files
   * into the snapshot, which cannot be done through the mount (EXDEV).
   */
  async mutateDirect(
    layers: readonly LayerRef[],
    fn: (upper: string, lowers: LowerLayers | undefined) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<LayerRef> {
    const { snapshotter } = this.options;
    if (snapshotter.lowerDirs === undefined)
      throw new BuilderError(
        'EINTERNAL',
        `mutateDirect needs an overlay snapshotter, not ${snapshotter.kind}`,
      );
    const parents = await this.ensureChain(layers, signal);
    const key = randomKey('step');
    await snapshotter.prepare(key, parents, { volatile: true, direct: true });
    try {
      // The active snapshot stacked on `parents` keeps them from removal while fn reads them.
      const [{ dir }, lowerDirs] = await Promise.all([snapshotter.stat(key), snapshotter.lowerDirs(parents)]);
      await fn(dir, lowerDirs.length === 0 ? undefined : new LowerLayers(lowerDirs));
      signal?.throwIfAborted();
      return await this.commitStep(layers, key, signal);
    } catch (err) {
      await snapshotter.remove(key).catch(() => {});
      throw err;
    }
  }

  /** The active snapshot `key` (not mounted) becomes the layer of its changes, committed by ChainID. */
  private async commitStep(
    layers: readonly LayerRef[],
    key: string,
    signal?: AbortSignal,
  ): Promise<LayerRef> {
    const changes = await this.options.snapshotter.changes(key, { xattrs: true });
    // The tar reads every changed file: have the kernel read them in meanwhile, many at once.
    // COPY's files were often written seconds or builds ago, and this machine's page cache
    // does not keep what was not touched for a few seconds (bigctx edit: 1.3-1.4 s cold, 0.7 hot).
    prefetchFiles(
      changes.flatMap((c) =>
        c.kind === 'changed' && c.type === 'file' && c.stat.size > 0 ? [c.source] : [],
      ),
    )?.catch(() => {});
    const tar = changesToTar(changes, {
      ...(this.options.sourceDateEpoch === undefined
        ? {}
        : { sourceDateEpoch: this.options.sourceDateEpoch }),
      ...(signal ? { signal } : {}),
    });
    const layer = await this.options.writeLayer(tar, signal);
    const ids = chainIds([...layers.map((l) => l.diffId), layer.diffId]);
    await this.commitOrAdopt(snapshotName(ids[ids.length - 1] as Digest), key);
    return layer;
  }

  async view<T>(
    layers: readonly LayerRef[],
    fn: (rootfs: string) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const { snapshotter } = this.options;
    const parents = await this.ensureChain(layers, signal);
    if (layers.length === 0) {
      const empty = await this.mountPoint();
      try {
        return await fn(empty);
      } finally {
        await rm(empty, { recursive: true, force: true });
      }
    }
    const key = randomKey('view');
    const mounts = await snapshotter.view(key, parents);
    const target = await this.mountPoint();
    try {
      return await withMounted(mounts, target, fn);
    } finally {
      await snapshotter.remove(key).catch(() => {});
      removeMountPoint(target);
    }
  }
}

export function requireSys(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new BuilderError('EPRECONDITION', 'building steps that change the filesystem needs root', {
      hint: 'Run strata as root (or with sudo); rootless builds are not supported yet.',
    });
  }
}
