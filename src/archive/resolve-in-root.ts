// Path resolution confined to a root directory, for extracting hostile archives.
//
// Every component is looked at with lstat, from the root down, on each call (no cache: an
// earlier entry of the same archive may have replaced a directory with a symlink). A symlink
// met on the way is either refused or resolved as if the root were "/" (chroot semantics, what
// Docker's chrooted extraction and containerd's fs.RootPath do): an absolute target restarts at
// the root and ".." stops at the root, so resolution can never leave it. The result is a list
// of components under the root that were all real directories when they were looked at.
//
// Threat model: the archive is hostile, the target tree is ours. Nobody else writes to the
// target during extraction, so checking then acting (lstat, then open with O_EXCL|O_NOFOLLOW)
// is not racy in practice; a concurrent writer would need openat2(RESOLVE_IN_ROOT), which Node
// does not expose.

import { chmod, lstat, mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BuilderError } from '../errors.js';

/** As Linux's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;

export type SymlinkPolicy = 'follow-in-root' | 'reject' | 'stop';

export interface ResolveOptions {
  /** Create missing directories (mode 0755) instead of returning undefined. */
  create?: boolean;
  /**
   * What to do with a symlink among the components: resolve it inside the root (default),
   * refuse it (EINVAL), or stop and return undefined.
   */
  symlinks?: SymlinkPolicy;
  /** A component that exists but is not a directory: EINVAL (default) or return undefined. */
  nonDirectory?: 'throw' | 'undefined';
  /** Components already resolved (a result of an earlier call) to continue from. */
  start?: readonly string[];
  /** Called with the components of each directory created. */
  onCreate?: (components: readonly string[]) => void;
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

/**
 * Resolves `components` (a relative path, already split) to a real directory under `root`.
 * Returns its components relative to the root, or undefined if a component is missing (and
 * `create` is false) or a symlink was met with policy 'stop'. Throws EINVAL when a component
 * is not a directory, a symlink is refused, or symlinks loop.
 */
export async function resolveDirInRoot(
  root: string,
  components: readonly string[],
  options: ResolveOptions = {},
): Promise<string[] | undefined> {
  const policy = options.symlinks ?? 'follow-in-root';
  const queue = [...components];
  const resolved: string[] = [...(options.start ?? [])];
  let links = 0;
  while (queue.length > 0) {
    const c = queue.shift() as string;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      resolved.pop(); // never above the root
      continue;
    }
    const abs = join(root, ...resolved, c);
    let stats: Awaited<ReturnType<typeof lstat>>;
    try {
      stats = await lstat(abs);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      if (!options.create) return undefined;
      try {
        await mkdir(abs, { mode: 0o755 });
        await chmod(abs, 0o755); // whatever the umask
      } catch (mkdirErr) {
        if (!isErrno(mkdirErr, 'EEXIST')) throw mkdirErr;
        queue.unshift(c); // appeared meanwhile: look again
        continue;
      }
      resolved.push(c);
      options.onCreate?.(resolved);
      continue;
    }
    if (stats.isSymbolicLink()) {
      const shown = [...resolved, c].join('/');
      if (policy === 'stop') return undefined;
      if (policy === 'reject') {
        throw new BuilderError('EINVAL', `${shown} is a symlink; refusing to extract through it`);
      }
      if (++links > MAX_SYMLINKS)
        throw new BuilderError('EINVAL', `${shown}: too many levels of symbolic links`);
      const target = await readlink(abs);
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    if (!stats.isDirectory()) {
      if (options.nonDirectory === 'undefined') return undefined;
      throw new BuilderError('EINVAL', `${[...resolved, c].join('/')} exists and is not a directory`);
    }
    resolved.push(c);
  }
  return resolved;
}
