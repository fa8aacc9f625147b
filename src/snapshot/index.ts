export { BaseSnapshotter, type SnapshotRecord } from './base-snapshotter.js';
export { type DiffTreesOptions, diffTrees, entryType, upperChanges } from './changes.js';
export { CopySnapshotter } from './copy-snapshotter.js';
export { type CopyTreeOptions, copyTree, devMajor, devMinor } from './copy-tree.js';
export { FilePool, type PoolEntryIdentity } from './file-pool.js';
export { type LowerEntry, LowerLayers } from './lower-layers.js';
export { cleanupStaleMounts, mountAll, unmountAll, withMounted } from './mount.js';
export { escapeOverlayPath, OverlaySnapshotter, overlayFeatureOptions } from './overlay-snapshotter.js';
export { probeSnapshotter, type SnapshotterChoice } from './probe.js';
export type {
  Change,
  ChangeOptions,
  CleanupOptions,
  CommitOptions,
  EntryType,
  Mount,
  PrepareOptions,
  SnapshotInfo,
  SnapshotKind,
  Snapshotter,
  Usage,
} from './types.js';
