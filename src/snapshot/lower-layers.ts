// What the read-only overlay of a snapshot's parents shows at a path, read from the layer
// directories themselves. A COPY that writes its new upper dir directly (build/steps/copy.ts)
// looks up a few paths below it; mounting that view for those lookups cost ~5 ms a step (a view
// record, the mount, its unmount, the record's removal).
//
// Overlay's lookup as the overlay snapshotter mounts it (redirect_dir, metacopy and index off):
// the top layer that has a name decides; a whiteout (char 0:0) hides the name from the layers
// below; a directory merges with the directories the layers below have at that name, down to an
// opaque one (trusted.overlay.opaque=y) or a layer that has something else there.

import type { Stats } from 'node:fs';
import { lstatSync } from 'node:fs';
import { isErrno, lgetxattr } from '../sys/index.js';

export type LowerEntry =
  | { kind: 'absent' }
  | { kind: 'found'; stats: Stats; host: string }
  /** A component of the path is not a directory there (a file, or a symlink the view would follow). */
  | { kind: 'blocked'; at: string };

export class LowerLayers {
  /** `dirs`: the layers' directories, top layer first (overlay's lowerdir order). */
  constructor(readonly dirs: readonly string[]) {}

  /** The entry at `path`, an absolute container path without `.` or `..`. */
  entry(path: string): LowerEntry {
    const parts = path.split('/').filter((p) => p !== '');
    if (parts.length === 0) {
      const top = this.dirs[0];
      return top === undefined ? { kind: 'absent' } : { kind: 'found', stats: lstatSync(top), host: top };
    }
    let layers = this.dirs;
    let rel = '';
    for (let i = 0; i < parts.length; i++) {
      rel += `/${parts[i]}`;
      let found: { stats: Stats; host: string } | undefined;
      const merged: string[] = [];
      for (const dir of layers) {
        const host = dir + rel;
        const st = lstatSync(host, { throwIfNoEntry: false });
        if (st === undefined) continue;
        if (st.isCharacterDevice() && st.rdev === 0) break; // whiteout
        if (found === undefined) found = { stats: st, host };
        if (!st.isDirectory()) break;
        merged.push(dir);
        if (isOpaque(host)) break;
      }
      if (found === undefined) return { kind: 'absent' };
      if (i === parts.length - 1) return { kind: 'found', ...found };
      if (!found.stats.isDirectory()) return { kind: 'blocked', at: rel };
      layers = merged;
    }
    return { kind: 'absent' }; // not reached: the loop returns at its last part
  }
}

function isOpaque(dir: string): boolean {
  try {
    return lgetxattr(dir, 'trusted.overlay.opaque')?.toString() === 'y';
  } catch (err) {
    if (isErrno(err, 'ENOTSUP')) return false; // a filesystem without xattrs has no opaque dirs
    throw err;
  }
}
