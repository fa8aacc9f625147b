// A faithful copy of a directory tree, for the copy snapshotter: owners, modes (setuid
// included), timestamps, symlinks, hard links, device nodes, FIFOs and extended attributes.
// fs.cp keeps none of owners, hard links, devices or xattrs, hence our own walk.

import { constants, type Stats } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  symlink,
} from 'node:fs/promises';
import { join } from 'node:path';
import { BuilderError } from '../errors.js';
import { lgetxattr, llistxattr, lsetxattr, mknod, sysAvailable } from '../sys/index.js';

/** glibc's gnu_dev_major/minor, on st_rdev. */
export function devMajor(rdev: number): number {
  const dev = BigInt(rdev);
  return Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
}

export function devMinor(rdev: number): number {
  const dev = BigInt(rdev);
  return Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
}

export interface CopyTreeOptions {
  /** Copy extended attributes (default: when the native addon is available). */
  xattrs?: boolean;
}

function copyXattrs(from: string, to: string): void {
  for (const name of llistxattr(from)) {
    const value = lgetxattr(from, name);
    if (value === null) continue;
    try {
      lsetxattr(to, name, value);
    } catch (err) {
      // user.* cannot be set on symlinks; some filesystems refuse trusted.* or security.*.
      const code = (err as { code?: string }).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    }
  }
}

/**
 * Copies the contents of `src` into the existing directory `dst`, and `src`'s own mode,
 * owner and times onto `dst`. Sockets are skipped (no layer format can carry them).
 */
export async function copyTree(src: string, dst: string, options: CopyTreeOptions = {}): Promise<void> {
  const withXattrs = options.xattrs ?? sysAvailable();
  const hardLinks = new Map<string, string>();

  const finish = async (path: string, st: Stats, symlinkEntry: boolean, source: string): Promise<void> => {
    await lchown(path, st.uid, st.gid);
    if (!symlinkEntry) await chmod(path, st.mode & 0o7777); // after chown, which clears setuid
    if (withXattrs) copyXattrs(source, path);
    await lutimes(path, st.atimeMs / 1000, st.mtimeMs / 1000);
  };

  const copyDir = async (from: string, to: string): Promise<void> => {
    for (const name of await readdir(from)) {
      const source = join(from, name);
      const target = join(to, name);
      const st = await lstat(source);
      if (st.isDirectory()) {
        await mkdir(target, { mode: 0o700 });
        await copyDir(source, target);
        await finish(target, st, false, source);
        continue;
      }
      if (st.isSocket()) continue;
      if (st.nlink > 1) {
        const inode = `${st.dev}:${st.ino}`;
        const first = hardLinks.get(inode);
        if (first !== undefined) {
          await link(first, target);
          continue;
        }
        hardLinks.set(inode, target);
      }
      if (st.isFile()) {
        await copyFile(source, target, constants.COPYFILE_FICLONE);
      } else if (st.isSymbolicLink()) {
        await symlink(await readlink(source), target);
      } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
        if (!sysAvailable()) {
          throw new BuilderError(
            'EPRECONDITION',
            `cannot copy device or FIFO ${source} without the native addon`,
            {
              hint: 'run `npm run build:native`',
            },
          );
        }
        mknod(target, (st.mode & 0o170000) | 0o600, devMajor(st.rdev), devMinor(st.rdev));
      } else {
        continue;
      }
      await finish(target, st, st.isSymbolicLink(), source);
    }
  };

  await copyDir(src, dst);
  await finish(dst, await lstat(src), false, src);
}
