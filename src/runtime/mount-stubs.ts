// Mount points that do not exist in the rootfs get created by the runtime (/etc/hosts,
// /proc, /dev…). Left behind, they would end up in the step's layer. We note beforehand
// which are missing and, after the run, remove those still empty and restore the mtime of
// the directory that held them (BuildKit's mount-stub cleaner does the same). Synchronous
// calls: a dozen lstats a RUN step, each a few µs, where awaited each is a thread-pool round trip.

import { lstatSync, rmdirSync, type Stats, unlinkSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isErrno } from '../sys/index.js';

export interface MountStubs {
  /** Host paths that were missing before the run, deepest last. */
  missing: string[];
  /** Existing directories that will receive a stub, with their times before the run. */
  parents: Map<string, { atimeMs: number; mtimeMs: number }>;
}

/** Notes which of `destinations` (container paths) are missing under `rootfs`. */
export async function recordMountStubs(rootfs: string, destinations: readonly string[]): Promise<MountStubs> {
  const stubs: MountStubs = { missing: [], parents: new Map() };
  const seen = new Set<string>();
  for (const destination of destinations) {
    const parts = destination.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) continue;
    let current = rootfs;
    for (const [i, part] of parts.entries()) {
      const next = join(current, part);
      let st: Stats | undefined;
      try {
        st = lstatSync(next);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) break;
      }
      if (st === undefined) {
        // `current` exists and is a real directory: everything from here down is a stub.
        if (!stubs.parents.has(current)) {
          const parent = lstatSync(current);
          stubs.parents.set(current, { atimeMs: parent.atimeMs, mtimeMs: parent.mtimeMs });
        }
        let path = current;
        for (const rest of parts.slice(i)) {
          path = join(path, rest);
          if (!seen.has(path)) {
            seen.add(path);
            stubs.missing.push(path);
          }
        }
        break;
      }
      // Through a symlink the runtime resolves inside the rootfs; we do not guess where.
      if (st.isSymbolicLink() || !st.isDirectory()) break;
      current = next;
    }
  }
  return stubs;
}

/** Removes the stubs the runtime created and that stayed empty; restores their parents' times. */
export async function removeMountStubs(stubs: MountStubs): Promise<void> {
  const byDepth = [...stubs.missing].sort((a, b) => b.split('/').length - a.split('/').length);
  const touched = new Set<string>();
  for (const path of byDepth) {
    try {
      const st = lstatSync(path);
      if (st.isDirectory()) rmdirSync(path);
      else if (st.isFile() && st.size === 0) unlinkSync(path);
      else continue;
      if (stubs.parents.has(dirname(path))) touched.add(dirname(path));
    } catch (err) {
      if (
        isErrno(err, 'ENOENT') ||
        isErrno(err, 'ENOTEMPTY') ||
        isErrno(err, 'EEXIST') ||
        isErrno(err, 'EBUSY')
      )
        continue;
      throw err;
    }
  }
  for (const parent of touched) {
    const times = stubs.parents.get(parent);
    if (!times) continue;
    try {
      utimesSync(parent, times.atimeMs / 1000, times.mtimeMs / 1000);
    } catch {
      // gone meanwhile: nothing to restore
    }
  }
}
