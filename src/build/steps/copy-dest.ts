// Where COPY's entries go on the host: exactly what secureJoin gives (inside the rootfs,
// through the image's symlinks), without an lstat per path component per entry. A tree of
// 5,000 files under /a/b/c/ resolved every entry from the root: 5 lstats each, and a
// thread-pool round trip for each when awaited.
//
// Directories already resolved are remembered, container path → host path, and an entry is
// its parent's host path plus its name, checked with one lstat (the lstat the copy needs
// anyway to see what is in the way). That is secureJoin's answer as long as nothing the
// parent's resolution went through has changed. Only resolutions that met nothing but
// existing entries are remembered (see Resolved.complete), so creating entries cannot change them;
// removing a directory or symlink can, and so can a symlink put where a file was (a link's
// `file/..` went through the file): then everything is forgotten (invalidate).

import { lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { resolveInRoot } from '../../runtime/secure-join.js';
import { isErrno } from '../../sys/index.js';

export interface Target {
  host: string;
  /** What is at `host` now (not following a symlink), or undefined. */
  existing: Stats | undefined;
  /** The cache generation the parent came from; -1 when resolved from the root. */
  generation: number;
}

/** What cleanPath would change in an absolute path: `//`, a `.` or `..` segment, a trailing `/`. */
const UNCLEAN = /\/\/|\/\.\.?(?:\/|$)|.\/$/;

/** `/a/b`, never `a`, `/a/`, `//a`, `/a/./b` or `/a/../b` (those take secureJoin's own way). */
export function isClean(path: string): boolean {
  return path.startsWith('/') && !UNCLEAN.test(path);
}

/** `dir/name` for container paths, without doubling the root's slash. */
export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export class DestinationResolver {
  private readonly dirs = new Map<string, string>();
  private generation = 0;

  constructor(private readonly rootfs: string) {
    this.dirs.set('/', join(rootfs));
  }

  /**
   * Where `path` goes if nothing is there: its known parent's host path plus its name, without
   * looking. The caller creates it exclusively (O_EXCL, mkdir, symlink: EEXIST if anything is
   * there, a symlink included) and takes resolve()'s way when that fails. Undefined when the
   * parent is not known.
   */
  ifAbsent(path: string): Target | undefined {
    if (!isClean(path) || path === '/') return undefined;
    const slash = path.lastIndexOf('/');
    const parent = this.dirs.get(slash === 0 ? '/' : path.slice(0, slash));
    if (parent === undefined) return undefined;
    // join() would normalize again what is already clean: a tree of 5,000 files paid ~10 ms for it.
    const host = parent.endsWith('/') ? parent + path.slice(slash + 1) : `${parent}/${path.slice(slash + 1)}`;
    return { host, existing: undefined, generation: this.generation };
  }

  /** secureJoin(rootfs, path), and what is there. */
  resolve(path: string): Target {
    const near = this.ifAbsent(path);
    if (near !== undefined) {
      try {
        near.existing = lstatSync(near.host, { throwIfNoEntry: false });
      } catch (err) {
        // secureJoin treats these as missing too, and throws on anything else.
        if (!isErrno(err, 'ENOTDIR')) throw err;
      }
      // A final symlink is followed: secureJoin's way.
      if (!near.existing?.isSymbolicLink()) return near;
    }
    const { host } = resolveInRoot(this.rootfs, path);
    let existing: Stats | undefined;
    try {
      existing = lstatSync(host);
    } catch {
      existing = undefined;
    }
    return { host, existing, generation: -1 };
  }

  /** A known directory's host path, if `path` was remembered. */
  knownDirectory(path: string): string | undefined {
    return this.dirs.get(path);
  }

  /** `path`, resolved as `target`, is now a directory: its entries resolve from it. */
  isDirectory(path: string, target: Target): void {
    if (!isClean(path)) return;
    if (target.generation === this.generation) {
      this.dirs.set(path, target.host);
      return;
    }
    // Resolved from the root (through a symlink), or before a removal: walk it again.
    const again = resolveInRoot(this.rootfs, path);
    if (again.complete && again.host === target.host) this.dirs.set(path, target.host);
  }

  /** See the top of the file for when: any remembered resolution may be wrong. */
  invalidate(): void {
    this.generation++;
    this.dirs.clear();
    // The root itself is never removed by a copy (every target is below it).
    this.dirs.set('/', join(this.rootfs));
  }
}
