// Safe extraction of one layer onto a directory, for hostile input.
//
// Containment. Entry names are normalized lexically: a leading '/' is stripped (with a
// warning), '.' and empty segments dropped, and a '..' that would climb above the root is an
// error (EINVAL). The parent directory of every entry is then resolved under the root by
// resolve-in-root.ts, afresh for each entry, so a symlink planted by an earlier entry is either
// resolved inside the root (default, as Docker does) or refused (`symlinkParents: 'reject'`).
// The last component is never followed: whatever is there is removed first, files are
// created with O_CREAT|O_EXCL|O_NOFOLLOW and their metadata set through the open descriptor,
// symlinks are given lchown/lutimes. Hardlink targets are normalized and resolved the same
// way and must already exist inside the root; link(2) on Linux does not dereference a symlink,
// so a hardlink to a symlink is another symlink and never a link to the file it points at.
// Directory metadata is applied at the end, deepest first, after re-checking with lstat that
// the path is still a chain of real directories (a later entry may have replaced a parent).
//
// Whiteouts (OCI image-spec layer.md). 'apply' (default): ".wh.<name>" deletes <name> unless
// this layer created it, ".wh..wh..opq" deletes from its directory everything this layer did
// not create; that is, layer after layer onto one tree. 'overlay': write overlayfs's own form
// for a snapshot directory instead: a character device 0:0 per whiteout and the
// trusted.overlay.opaque xattr per opaque directory. Node can do neither (no mknod, no
// setxattr, and libuv exposes no renameat2(RENAME_WHITEOUT)), so the caller passes
// `makeWhiteout` and `makeOpaque`; `whiteoutByHardlink(seed)` below is a pure-Node
// `makeWhiteout` that links one existing 0:0 device (overlayfs shares whiteout inodes the same
// way). 'keep': whiteout files are extracted as ordinary files.
//
// Devices and FIFOs. Node has no mknod/mkfifo. Char and block devices are created only when
// privileged and only through a caller-supplied `makeDevice`; otherwise they are skipped with a
// 'device-skipped' warning (FIFOs likewise, without the privilege condition). Extended
// attributes likewise need `setXattr`, or are skipped with a warning.
//
// Ownership and modes. chown happens only when privileged (default: running as root), before
// chmod so that setuid/setgid bits survive; unprivileged extraction drops setuid/setgid.
// Modes are applied exactly (no umask). mtimes are set after contents, directories last.
//
// On error the target is left as it is, partially extracted: callers extract into a fresh
// snapshot directory and discard it on failure.

import { constants, type Stats } from 'node:fs';
import {
  chmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  rm,
  symlink,
  unlink,
  utimes,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BuilderError } from '../errors.js';
import type { ArchiveWarning } from './archive-warning.js';
import { resolveDirInRoot } from './resolve-in-root.js';
import { readTar, type TarReaderEntry } from './tar-reader.js';
import { classifyWhiteout } from './whiteout.js';

export type WhiteoutMode = 'apply' | 'overlay' | 'keep';

export interface DeviceNode {
  type: 'char' | 'block' | 'fifo';
  devmajor: number;
  devminor: number;
  mode: number;
}

export interface ExtractOptions {
  /** How OCI whiteouts are handled; see the comment atop this file. Default 'apply'. */
  whiteouts?: WhiteoutMode;
  /** 'overlay' mode: create an overlayfs whiteout (char device 0:0) at `absPath`. */
  makeWhiteout?: (absPath: string) => Promise<void>;
  /** 'overlay' mode: mark a directory opaque (trusted.overlay.opaque=y). */
  makeOpaque?: (absDirPath: string) => Promise<void>;
  /** Create a device node or FIFO (Node cannot). Without it they are skipped with a warning. */
  makeDevice?: (absPath: string, node: DeviceNode) => Promise<void>;
  /** Set one extended attribute on a path (not following a final symlink). Without it: warning. */
  setXattr?: (absPath: string, name: string, value: Uint8Array) => Promise<void>;
  /** chown, keep setuid/setgid, create devices. Default: the process runs as root. */
  privileged?: boolean;
  /** A symlink among an entry's parent directories: resolve it inside the root (default) or refuse. */
  symlinkParents?: 'resolve-in-root' | 'reject';
  onWarning?: (warning: ArchiveWarning) => void;
  signal?: AbortSignal;
}

export interface ExtractResult {
  /** Entries read (including whiteouts and skipped ones). */
  entries: number;
  /** Bytes of file content written. */
  bytes: number;
  warnings: ArchiveWarning[];
}

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/**
 * Splits an archive path into components under the root. A leading '/' is stripped
 * (`absolute` tells); a '..' that would leave the root is EINVAL.
 */
export function normalizeArchivePath(path: string): { parts: string[]; absolute: boolean } {
  if (path.includes('\0'))
    throw new BuilderError('EINVAL', `archive path contains NUL: ${JSON.stringify(path)}`);
  const absolute = path.startsWith('/');
  const parts: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (parts.length === 0) {
        throw new BuilderError(
          'EINVAL',
          `archive entry ${JSON.stringify(path)} points outside the extraction root`,
        );
      }
      parts.pop();
      continue;
    }
    parts.push(segment);
  }
  return { parts, absolute };
}

/**
 * A pure-Node `makeWhiteout`: hard-links an existing overlayfs whiteout (a character device
 * 0:0 on the same filesystem, made once by whoever can mknod) to each new whiteout path.
 * overlayfs recognizes a whiteout by its inode type and rdev, so links work; the kernel's own
 * whiteout sharing does the same. Limit: the filesystem's link count per inode (EMLINK).
 */
export function whiteoutByHardlink(seedPath: string): (absPath: string) => Promise<void> {
  let checked: Promise<void> | undefined;
  return async (absPath) => {
    checked ??= lstat(seedPath).then(
      (stats) => {
        if (!stats.isCharacterDevice() || stats.rdev !== 0) {
          throw new BuilderError(
            'EPRECONDITION',
            `${seedPath} is not an overlay whiteout (character device 0:0)`,
          );
        }
      },
      (err: unknown) => {
        throw new BuilderError('EPRECONDITION', `whiteout seed ${seedPath} is missing`, { cause: err });
      },
    );
    await checked;
    await link(seedPath, absPath);
  };
}

/** Extracts one layer (an uncompressed tar stream) onto `targetDir`, which must exist. */
export async function extractLayer(
  tar: AsyncIterable<Uint8Array>,
  targetDir: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const root = resolve(targetDir);
  const rootStats = await lstatOrUndefined(root);
  if (!rootStats?.isDirectory())
    throw new BuilderError('ENOTFOUND', `extraction target ${root} is not a directory`);
  const privileged = options.privileged ?? process.getuid?.() === 0;
  const modeMask = privileged ? 0o7777 : 0o1777;
  const whiteouts = options.whiteouts ?? 'apply';
  const symlinks = options.symlinkParents === 'reject' ? 'reject' : 'follow-in-root';
  const warnings: ArchiveWarning[] = [];
  const warn = (warning: ArchiveWarning) => {
    warnings.push(warning);
    options.onWarning?.(warning);
  };
  // Resolved paths this layer created, with all their ancestors: what whiteouts must spare.
  const unpacked = new Set<string>();
  const markUnpacked = (components: readonly string[]) => {
    for (let i = components.length; i > 0; i--) {
      const key = components.slice(0, i).join('/');
      if (unpacked.has(key)) break;
      unpacked.add(key);
    }
  };
  const dirs = new Map<string, DirMeta>();
  let entries = 0;
  let bytes = 0;

  // Resolved parents by archive path, so that 10,000 files in one directory cost one walk, not
  // 10,000. An entry only ever replaces something after removing it, so a resolution can go
  // stale only when a directory or a symlink is removed: every such removal clears the cache.
  const parentCache = new Map<string, string[]>();

  /** Resolves (creating what is missing) the directory an entry goes into. */
  async function resolveParent(components: readonly string[]): Promise<string[]> {
    const key = components.join('/');
    const hit = parentCache.get(key);
    if (hit) return hit;
    const up = components.length > 1 ? parentCache.get(components.slice(0, -1).join('/')) : undefined;
    const resolved = (await resolveDirInRoot(root, up ? components.slice(-1) : components, {
      create: true,
      symlinks,
      onCreate: markUnpacked,
      ...(up ? { start: up } : {}),
    })) as string[];
    parentCache.set(key, resolved);
    return resolved;
  }

  /** Removes whatever is at `abs`, never following a symlink there. */
  async function removeExisting(abs: string): Promise<void> {
    const stats = await lstatOrUndefined(abs);
    if (!stats) return;
    if (stats.isDirectory() || stats.isSymbolicLink()) parentCache.clear();
    if (stats.isDirectory()) await rm(abs, { recursive: true, force: true });
    else await unlink(abs);
  }

  /** Runs `create`; if something is in the way, removes it and runs `create` again. */
  async function replacing<T>(abs: string, create: () => Promise<T>): Promise<T> {
    try {
      return await create();
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    await removeExisting(abs);
    return await create();
  }

  async function setXattrs(entry: TarReaderEntry, abs: string): Promise<void> {
    const names = Object.keys(entry.xattrs);
    if (names.length === 0) return;
    if (!options.setXattr) {
      warn({
        code: 'xattr-skipped',
        path: entry.path,
        message: `${entry.path}: xattrs ${names.join(', ')} not set (no setXattr)`,
      });
      return;
    }
    for (const name of names) await options.setXattr(abs, name, entry.xattrs[name] as Buffer);
  }

  /** Deletes from `abs` (recursively) everything this layer did not create. */
  async function removeLower(abs: string, rel: string): Promise<void> {
    for (const name of await readdir(abs)) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const childAbs = join(abs, name);
      if (unpacked.has(childRel)) {
        if ((await lstat(childAbs)).isDirectory()) await removeLower(childAbs, childRel);
      } else {
        parentCache.clear();
        await rm(childAbs, { recursive: true, force: true });
      }
    }
  }

  async function whiteout(
    entry: TarReaderEntry,
    parentParts: string[],
    kind: 'opaque' | 'whiteout',
    target: string,
  ) {
    if (kind === 'opaque') {
      const dir = await resolveParent(parentParts);
      markUnpacked(dir);
      const abs = join(root, ...dir);
      if (whiteouts === 'overlay') {
        if (!options.makeOpaque) {
          throw new BuilderError(
            'EPRECONDITION',
            `${entry.path}: overlay whiteouts need makeOpaque (Node cannot set trusted.overlay.opaque)`,
          );
        }
        await options.makeOpaque(abs);
      } else {
        await removeLower(abs, dir.join('/'));
      }
      return;
    }
    if (whiteouts === 'overlay') {
      if (!options.makeWhiteout) {
        throw new BuilderError(
          'EPRECONDITION',
          `${entry.path}: overlay whiteouts need makeWhiteout (Node cannot mknod)`,
          {
            hint: 'pass whiteoutByHardlink(seed) or a helper that creates a character device 0:0',
          },
        );
      }
      const parent = await resolveParent(parentParts);
      const components = [...parent, target];
      if (unpacked.has(components.join('/'))) return; // created by this layer: a whiteout only hides lower layers
      const abs = join(root, ...components);
      await removeExisting(abs);
      await options.makeWhiteout(abs);
      markUnpacked(components);
      return;
    }
    const parent = await resolveDirInRoot(root, parentParts, { symlinks, nonDirectory: 'undefined' });
    if (!parent) return; // nothing below to hide
    const components = [...parent, target];
    if (unpacked.has(components.join('/'))) return;
    parentCache.clear();
    await rm(join(root, ...components), { recursive: true, force: true });
  }

  async function writeFile(entry: TarReaderEntry, abs: string): Promise<void> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const fh = await replacing(abs, () => open(abs, flags, 0o600));
    try {
      for await (const chunk of entry.body as AsyncIterable<Buffer>) {
        options.signal?.throwIfAborted();
        let offset = 0;
        while (offset < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, offset, chunk.length - offset);
          offset += bytesWritten;
        }
      }
      if (privileged) await fh.chown(entry.uid, entry.gid);
      await fh.chmod(entry.mode & modeMask);
      await fh.utimes(entry.mtime, entry.mtime);
    } finally {
      await fh.close();
    }
    bytes += entry.size;
  }

  async function linkTo(entry: TarReaderEntry, abs: string): Promise<void> {
    const target = normalizeArchivePath(entry.linkname);
    const last = target.parts.pop();
    if (last === undefined)
      throw new BuilderError('EINVAL', `${entry.path}: hardlink to the extraction root`);
    const parent =
      parentCache.get(target.parts.join('/')) ?? (await resolveDirInRoot(root, target.parts, { symlinks }));
    const targetAbs = parent ? join(root, ...parent, last) : undefined;
    const targetStats = targetAbs ? await lstatOrUndefined(targetAbs) : undefined;
    if (!targetAbs || !targetStats) {
      throw new BuilderError(
        'EINVAL',
        `${entry.path}: hardlink target ${entry.linkname} does not exist in the layer or below`,
      );
    }
    if (targetStats.isDirectory())
      throw new BuilderError('EINVAL', `${entry.path}: hardlink to a directory (${entry.linkname})`);
    if (targetAbs === abs) return;
    await replacing(abs, () => link(targetAbs, abs));
  }

  async function makeNode(entry: TarReaderEntry, abs: string, type: DeviceNode['type']): Promise<boolean> {
    const why =
      type !== 'fifo' && !privileged
        ? 'not privileged'
        : !options.makeDevice
          ? 'Node cannot mknod and no makeDevice was given'
          : undefined;
    if (why) {
      warn({
        code: 'device-skipped',
        path: entry.path,
        message: `${entry.path}: ${type} ${entry.devmajor}:${entry.devminor} skipped (${why})`,
      });
      return false;
    }
    await removeExisting(abs);
    await options.makeDevice?.(abs, {
      type,
      devmajor: entry.devmajor,
      devminor: entry.devminor,
      mode: entry.mode & modeMask,
    });
    if (privileged) await lchown(abs, entry.uid, entry.gid);
    await chmod(abs, entry.mode & modeMask);
    await utimes(abs, entry.mtime, entry.mtime);
    return true;
  }

  for await (const entry of readTar(tar, { signal: options.signal })) {
    entries++;
    const { parts, absolute } = normalizeArchivePath(entry.path);
    if (absolute) {
      warn({ code: 'absolute-path', path: entry.path, message: `${entry.path}: leading "/" removed` });
    }
    const name = parts.pop();
    if (name === undefined) continue; // the root itself: its metadata belongs to the snapshot
    if (whiteouts !== 'keep') {
      const wo = classifyWhiteout(name);
      if (wo.kind === 'invalid') throw new BuilderError('EINVAL', `${entry.path}: invalid whiteout name`);
      if (wo.kind === 'meta') {
        warn({
          code: 'whiteout-meta-skipped',
          path: entry.path,
          message: `${entry.path}: reserved whiteout name ignored`,
        });
        continue;
      }
      if (wo.kind === 'opaque' || wo.kind === 'whiteout') {
        await whiteout(entry, parts, wo.kind, wo.kind === 'whiteout' ? wo.target : '');
        continue;
      }
    }
    const parent = await resolveParent(parts);
    const components = [...parent, name];
    const rel = components.join('/');
    const abs = join(root, rel);
    markUnpacked(components);
    switch (entry.type) {
      case 'dir': {
        try {
          await mkdir(abs, { mode: 0o700 });
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw err;
          if (!(await lstat(abs)).isDirectory()) {
            await removeExisting(abs);
            await mkdir(abs, { mode: 0o700 });
          }
        }
        dirs.set(rel, { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime });
        await setXattrs(entry, abs);
        break;
      }
      case 'file':
        await writeFile(entry, abs);
        await setXattrs(entry, abs);
        break;
      case 'symlink':
        await replacing(abs, () => symlink(entry.linkname, abs));
        if (privileged) await lchown(abs, entry.uid, entry.gid);
        await lutimes(abs, entry.mtime, entry.mtime);
        await setXattrs(entry, abs);
        break;
      case 'hardlink':
        await linkTo(entry, abs);
        break;
      case 'char':
      case 'block':
      case 'fifo':
        if (await makeNode(entry, abs, entry.type)) await setXattrs(entry, abs);
        break;
    }
  }

  // Directory metadata last, deepest first, and only where a real directory still stands.
  const ordered = [...dirs].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
  for (const [rel, meta] of ordered) {
    const components = rel.split('/');
    components.pop();
    const parent = await resolveDirInRoot(root, components, { symlinks: 'stop' });
    if (!parent || parent.join('/') !== components.join('/')) continue;
    const abs = join(root, rel);
    if (!(await lstatOrUndefined(abs))?.isDirectory()) continue;
    if (privileged) await lchown(abs, meta.uid, meta.gid);
    await chmod(abs, meta.mode & modeMask);
    await utimes(abs, meta.mtime, meta.mtime);
  }
  return { entries, bytes, warnings };
}
