// Snapshots, after containerd's model (core/snapshots/snapshotter.go), simplified.
//
// A snapshot is a directory of filesystem content with a lifecycle:
//
//   prepare(key, parents) → an ACTIVE snapshot, writable, named by a key the caller picks
//                           (e.g. "run/<step>/<random>"). Returns the mounts that present
//                           it: the parents' content below, a fresh writable dir on top.
//   view(key, parents)    → a read-only active snapshot (no writable dir; cannot commit).
//   commit(name, key)     → the active snapshot becomes COMMITTED under `name` (the build
//                           engine uses the layer ChainID) and is immutable from then on;
//                           the key is gone. Committed snapshots are what others stack on.
//   remove(key | name)    → gone; a committed snapshot with children cannot be removed.
//
// Keys and names share one namespace. The snapshotter never mounts anything: it returns
// mounts as data (Mount[]); mountAll/withMounted (./mount.ts) do the mounting, so a step
// decides where and for how long. Nothing here knows about images: the engine maps its
// ChainIDs to names and unpacks layers into prepared directories (SnapshotInfo.dir).
//
// Two backings: OverlaySnapshotter (a snapshot's dir holds only its own changes, in
// overlayfs's format: whiteouts are char 0:0 devices, opaque dirs carry trusted.overlay.opaque=y)
// and CopySnapshotter (a snapshot's dir is a full copy of the tree; changes are found by
// diffing against the parent). `kind` says which; probeSnapshotter() picks one.
//
// On-disk layout under the root the caller gives:
//   snapshots/<id>/fs        the content (overlay: the upper dir; copy: the whole tree)
//   snapshots/<id>/work      overlay's workdir (active overlay snapshots only)
//   pool/<boot>/<xx>/<key>    files COPY shares by hard link (overlay only; file-pool.ts)
//   metadata/<sha256(name)>.json   one record per key or name (SnapshotRecord), written
//                            to a temp file and then linked into place: link(2) fails when
//                            the name exists, so two processes cannot take one key.
// ids are short random hex strings, so overlay's lowerdir option stays short.

import type { Stats } from 'node:fs';
import type { FilePool } from './file-pool.js';

/** A mount as data, as containerd's mount.Mount: what to mount, not where. */
export interface Mount {
  /** 'overlay' or 'bind'. */
  type: string;
  source: string;
  /** mount(8)-style options: ro/rw/rbind… become flags, the rest (lowerdir=…) filesystem data. */
  options: string[];
}

export type SnapshotKind = 'active' | 'view' | 'committed';

export interface SnapshotInfo {
  /** The key of an active snapshot or view, the name of a committed one. */
  name: string;
  kind: SnapshotKind;
  /** Committed snapshots below this one, bottom first (the whole stack, not just the top). */
  parents: string[];
  /** The snapshot's own directory (snapshots/<id>/fs): unpack layers here, read changes from here. */
  dir: string;
  /** Internal id: the directory name under snapshots/. */
  id: string;
  labels: Record<string, string>;
  createdAt: string;
  committedAt?: string;
}

export interface Usage {
  /** Bytes on disk (allocated blocks), hard links counted once. */
  size: number;
  inodes: number;
}

export interface PrepareOptions {
  labels?: Record<string, string>;
  /**
   * The snapshot can be rebuilt from elsewhere (a layer blob, a cache entry), so its writes
   * need not survive a crash: overlay skips syncing the upper dir (its `volatile` option), and
   * the snapshot is trusted only until the next boot (then discarded, to be rebuilt).
   */
  volatile?: boolean;
  /**
   * Its caller writes the snapshot's directory in place and never mounts it (a COPY straight
   * into the upper dir): no overlay work dir is made, prepare() returns no mounts and mounts()
   * refuses it, and committing or removing it need not read the mount table.
   */
  direct?: boolean;
}

export interface CommitOptions {
  /** Replaces the labels of the active snapshot when given. */
  labels?: Record<string, string>;
}

export interface CleanupOptions {
  /**
   * Leave alone directories and temp files younger than this (another process may be
   * preparing them right now). Default 15 minutes; 0 when no other process uses the root.
   */
  minAgeMs?: number;
}

export type EntryType = 'file' | 'directory' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

/**
 * One entry of a layer's change set, in OCI terms. Paths are relative, '/'-separated, without
 * a leading slash ('etc/old'); changes come in tar order: sorted, depth first, each directory
 * before what it holds.
 */
export type Change =
  /** Added or modified (an upper dir cannot tell which, and a layer needs no distinction). */
  | {
      kind: 'changed';
      path: string;
      type: EntryType;
      /** Where to read it from on disk. */
      source: string;
      stat: ChangeStat;
      /** Extended attributes to record (overlay's own trusted.overlay.* excluded); only with {xattrs: true}. */
      xattrs?: Record<string, Buffer>;
    }
  /** Deleted: the layer writes `.wh.<name>` in the parent. */
  | { kind: 'whiteout'; path: string }
  /** The directory hides everything below it in lower layers: the layer writes `<dir>/.wh..wh..opq`. */
  | { kind: 'opaque'; path: string };

/** What a layer needs of a changed entry's lstat (fs.Stats has it; upperChanges reads just this). */
export type ChangeStat = Pick<
  Stats,
  'mode' | 'uid' | 'gid' | 'size' | 'mtimeMs' | 'dev' | 'ino' | 'nlink' | 'rdev'
>;

export interface ChangeOptions {
  /** Read extended attributes of changed entries (needs the native addon). */
  xattrs?: boolean;
}

export interface Snapshotter {
  /** 'overlay': dirs hold diffs in overlayfs format. 'copy': dirs hold whole trees. */
  readonly kind: 'overlay' | 'copy';
  readonly root: string;
  /** Where COPY finds files to share by hard link (overlay only: a copy snapshot changes files in place). */
  readonly filePool?: FilePool;
  /** A new active snapshot stacked on `parents`; returns the mounts presenting it read-write. */
  prepare(key: string, parents?: readonly string[], options?: PrepareOptions): Promise<Mount[]>;
  /** A new read-only view of `parents`. */
  view(key: string, parents?: readonly string[], options?: PrepareOptions): Promise<Mount[]>;
  /** The mounts of an active snapshot or view. */
  mounts(key: string): Promise<Mount[]>;
  /** Active → committed under `name`. The snapshot must not be mounted. */
  commit(name: string, key: string, options?: CommitOptions): Promise<SnapshotInfo>;
  stat(keyOrName: string): Promise<SnapshotInfo>;
  /** Undefined when there is no such key or name. */
  find(keyOrName: string): Promise<SnapshotInfo | undefined>;
  list(): Promise<SnapshotInfo[]>;
  remove(keyOrName: string): Promise<void>;
  /** Disk use of one snapshot's own directory, or of every snapshot when no name is given. */
  usage(keyOrName?: string): Promise<Usage>;
  /** Overlay only: the directories of `parents`' layers, top first, as a view of them would stack them. */
  lowerDirs?(parents: readonly string[]): Promise<string[]>;
  /** What an active snapshot changed relative to its parents (mount it no longer, or at least quiesce it). */
  changes(key: string, options?: ChangeOptions): Promise<Change[]>;
  /** Crash recovery: removes directories no record refers to, temp files and half-done commits. */
  cleanup(options?: CleanupOptions): Promise<{ removed: string[] }>;
}
