// Snapshots as overlayfs layers: each snapshot's fs/ holds only its own changes, and a stack
// is presented by one overlay mount (containerd's plugins/snapshots/overlay, simplified).

import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BaseSnapshotter, type SnapshotRecord } from './base-snapshotter.js';
import { upperChanges } from './changes.js';
import { FilePool } from './file-pool.js';
import type { Change, ChangeOptions, Mount } from './types.js';

let featureOptions: string[] | undefined;

/**
 * Overlay features that would make an upper dir unreadable on its own are turned off when
 * the kernel knows them: redirect_dir (a renamed directory becomes a pointer into the lower
 * layer), metacopy (a chmod copies up metadata only), index (inode index, needs a stable
 * lower). Each one is passed only if /sys/module/overlay/parameters lists it, since an
 * unknown option fails the mount.
 */
export function overlayFeatureOptions(): string[] {
  if (featureOptions === undefined) {
    const params = '/sys/module/overlay/parameters';
    featureOptions = ['index', 'redirect_dir', 'metacopy']
      .filter((p) => existsSync(join(params, p)))
      .map((p) => `${p}=off`);
  }
  return [...featureOptions];
}

/** Overlay splits its options on ',' and lowerdir on ':'; a backslash escapes either. */
export function escapeOverlayPath(path: string): string {
  return path.replace(/[\\:,]/g, (c) => `\\${c}`);
}

export interface OverlayOptions {
  /** The kernel takes overlay's `volatile` option (Linux ≥ 5.10; probe.ts finds out). */
  volatile?: boolean;
}

export class OverlaySnapshotter extends BaseSnapshotter {
  readonly kind = 'overlay' as const;
  readonly #volatile: boolean;
  /** Files COPY shares between this root's snapshots by hard link (pool/ beside snapshots/). */
  readonly filePool: FilePool;

  constructor(root: string, options: OverlayOptions = {}) {
    super(root);
    this.#volatile = options.volatile === true;
    this.filePool = FilePool.of(root);
  }

  // Unmounting an overlay syncs its whole upper filesystem, and every fsync inside (dpkg makes
  // hundreds) reaches the disk: for a build step whose result is a layer blob (synced in the
  // content store) that is time spent on bytes that can be recreated.
  protected override supportsVolatile(): boolean {
    return this.#volatile;
  }

  protected async populate(
    dir: string,
    stack: SnapshotRecord[],
    kind: 'active' | 'view',
    direct: boolean,
  ): Promise<void> {
    mkdirSync(join(dir, 'fs'), { mode: 0o755 });
    // overlay's work dir, for mounting: a direct snapshot is never mounted.
    if (kind === 'active' && stack.length > 0 && !direct) mkdirSync(join(dir, 'work'), { mode: 0o700 });
  }

  protected mountsOf(record: SnapshotRecord, stack: SnapshotRecord[]): Mount[] {
    const own = this.fsDir(record.id);
    const lowers = stack.map((r) => this.fsDir(r.id)).reverse(); // overlay lists the top layer first
    if (record.kind === 'active') {
      if (lowers.length === 0) return [{ type: 'bind', source: own, options: ['rbind', 'rw'] }];
      return [
        {
          type: 'overlay',
          source: 'overlay',
          options: [
            ...overlayFeatureOptions(),
            `lowerdir=${lowers.map(escapeOverlayPath).join(':')}`,
            `upperdir=${escapeOverlayPath(own)}`,
            `workdir=${escapeOverlayPath(join(this.snapshotDir(record.id), 'work'))}`,
            ...(record.volatile === true ? ['volatile'] : []),
          ],
        },
      ];
    }
    if (lowers.length === 0) return [{ type: 'bind', source: own, options: ['rbind', 'ro'] }];
    if (lowers.length === 1) return [{ type: 'bind', source: lowers[0] as string, options: ['rbind', 'ro'] }];
    return [
      {
        type: 'overlay',
        source: 'overlay',
        options: [...overlayFeatureOptions(), `lowerdir=${lowers.map(escapeOverlayPath).join(':')}`],
      },
    ];
  }

  async lowerDirs(parents: readonly string[]): Promise<string[]> {
    return (await this.resolveStack(parents)).map((r) => this.fsDir(r.id)).reverse();
  }

  protected changesOf(
    record: SnapshotRecord,
    _stack: SnapshotRecord[],
    options: ChangeOptions,
  ): Promise<Change[]> {
    return upperChanges(this.fsDir(record.id), options);
  }

  protected async afterCommit(dir: string): Promise<void> {
    // A few empty directories overlay left: synchronous, not a dozen thread-pool round trips.
    rmSync(join(dir, 'work'), { recursive: true, force: true });
  }
}
