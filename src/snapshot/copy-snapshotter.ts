// The fallback when overlayfs cannot be mounted (e.g. the root sits on an overlay or a
// filesystem overlay refuses as upper): every snapshot's fs/ is a whole tree. prepare copies
// the top parent's tree; changes come from comparing the two trees (diffTrees). Slower and
// bigger, but it needs nothing from the kernel beyond bind mounts.

import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuilderError } from '../errors.js';
import { BaseSnapshotter, type SnapshotRecord } from './base-snapshotter.js';
import { diffTrees } from './changes.js';
import { copyTree } from './copy-tree.js';
import type { Change, ChangeOptions, Mount } from './types.js';

/** Written after the copy; its ctime separates copying from the step's own writes. */
const COPIED_MARKER = 'copied';

export class CopySnapshotter extends BaseSnapshotter {
  readonly kind = 'copy' as const;

  /**
   * A whole tree already contains its parents, so a stack must be one chain: the top
   * snapshot's own recorded parents, in order. (Overlay can merge unrelated snapshots; a copy
   * cannot without replaying deletions, which only a diff layer records.)
   */
  private top(stack: SnapshotRecord[]): SnapshotRecord | undefined {
    const top = stack[stack.length - 1];
    if (!top) return undefined;
    const chain = [...top.parents, top.name];
    if (chain.length !== stack.length || chain.some((name, i) => stack[i]?.name !== name)) {
      throw new BuilderError(
        'EINVAL',
        `the copy snapshotter stacks one chain only; got ${stack.map((r) => r.name).join(', ')}`,
      );
    }
    return top;
  }

  protected async populate(dir: string, stack: SnapshotRecord[], kind: 'active' | 'view'): Promise<void> {
    const fs = join(dir, 'fs');
    await mkdir(fs, { mode: 0o755 });
    const top = this.top(stack);
    if (kind === 'active' && top) await copyTree(this.fsDir(top.id), fs);
    await writeFile(join(dir, COPIED_MARKER), '');
  }

  protected mountsOf(record: SnapshotRecord, stack: SnapshotRecord[]): Mount[] {
    if (record.kind === 'active')
      return [{ type: 'bind', source: this.fsDir(record.id), options: ['rbind', 'rw'] }];
    const top = this.top(stack);
    return [{ type: 'bind', source: this.fsDir((top ?? record).id), options: ['rbind', 'ro'] }];
  }

  protected async changesOf(
    record: SnapshotRecord,
    stack: SnapshotRecord[],
    options: ChangeOptions,
  ): Promise<Change[]> {
    const top = this.top(stack);
    const marker = await lstat(join(this.snapshotDir(record.id), COPIED_MARKER));
    return diffTrees(top && this.fsDir(top.id), this.fsDir(record.id), {
      ...options,
      changedAfterMs: marker.ctimeMs,
    });
  }

  protected async afterCommit(dir: string): Promise<void> {
    await rm(join(dir, COPIED_MARKER), { force: true });
  }
}
