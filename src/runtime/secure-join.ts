// Resolving a container path inside a rootfs on the host, without letting the rootfs's own
// symlinks lead outside it (a hostile image could make /proc point at /etc). Symlinks are
// followed as the container would see them: absolute targets restart at the rootfs, '..'
// stops at it. Used before mounting from the host side (chroot isolation).

import { lstatSync, readlinkSync } from 'node:fs';
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuilderError } from '../errors.js';
import { isErrno } from '../sys/index.js';

const MAX_SYMLINKS = 40;

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

export interface Resolved {
  /** The host path. */
  host: string;
  /**
   * Every component looked at existed (none was missing and passed over, or popped by a
   * `..` in a link's target). Then only removing or replacing one of them can change what
   * `path` resolves to: creating entries elsewhere cannot (COPY's directory cache relies on it).
   */
  complete: boolean;
}

/**
 * secureJoin, synchronously, saying whether the resolution met only existing entries.
 * Synchronous: each lstat is a few µs, an awaited one a thread-pool round trip (~50 µs here).
 */
export function resolveInRoot(root: string, path: string): Resolved {
  const resolved: string[] = [];
  const pending = components(path);
  let links = 0;
  let complete = true;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
      complete = false;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new BuilderError('EINVAL', `too many symlinks resolving ${path} in the container`);
    }
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...components(target));
  }
  return { host: join(root, ...resolved), complete };
}

/**
 * The host path of `path` inside `root`, with every symlink resolved within the root.
 * Missing components are allowed (the result then names what would be created).
 */
export async function secureJoin(root: string, path: string): Promise<string> {
  return resolveInRoot(root, path).host;
}

/**
 * Makes sure a mount point exists at `path` inside `root` (directories for a directory,
 * an empty file for a file bind), creating what is missing, and returns its host path.
 */
export async function ensureMountPoint(root: string, path: string, kind: 'dir' | 'file'): Promise<string> {
  const target = await secureJoin(root, path);
  const parts = components(target.slice(root.length));
  let current = root;
  for (const [i, part] of parts.entries()) {
    current = join(current, part);
    const last = i === parts.length - 1;
    try {
      const st = await lstat(current);
      if (!last && !st.isDirectory()) {
        throw new BuilderError('EINVAL', `cannot mount on ${path}: ${current} is not a directory`);
      }
      if (last && kind === 'dir' && !st.isDirectory()) {
        throw new BuilderError('EINVAL', `cannot mount a directory on ${path}: it is not a directory`);
      }
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      if (last && kind === 'file') await writeFile(current, '', { flag: 'wx', mode: 0o644 });
      else await mkdir(current, { mode: 0o755 });
    }
  }
  return current;
}
