// Directory → tar entries: a depth-first walk, siblings sorted by the bytes of their names, each
// directory before its contents, with the real mode, numeric uid/gid and mtime of each file.
// Files with more than one link are written once, then as hardlink entries naming the first
// path that had the same (dev, ino). File contents are opened only when the writer reaches
// them (tar-writer.ts), so packing a tree of any size holds one read buffer at a time.
//
// Extended attributes: Node has no API to read them (no getxattr/listxattr), so nothing is read
// from disk by default and entries carry no xattrs. A caller with a reader (a native addon, a
// helper process) passes `readXattrs`; the writer already encodes xattrs as SCHILY.xattr.*, so
// conversions that know them (overlay, layer rewriting) keep them.
//
// Overlay mode converts an overlayfs upper directory into an OCI layer:
//   - a character device 0:0 (overlayfs's whiteout) becomes an empty file ".wh.<name>";
//   - a directory marked opaque becomes "<dir>/" followed by "<dir>/.wh..wh..opq".
// Opacity lives in the `trusted.overlay.opaque` xattr, which Node cannot read either: the
// caller injects `isOpaque(absDirPath)`; the default answers false without running anything.
// Whiteout and opaque marker entries are written as containerd 2 does: mode 0, uid/gid 0, mtime 0.

import type { BigIntStats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BuilderError } from '../errors.js';
import type { ArchiveWarning } from './archive-warning.js';
import { readFileBody } from './file-body.js';
import { type TarWriterEntry, type TarWriterOptions, tarStream } from './tar-writer.js';
import { WHITEOUT_OPAQUE, WHITEOUT_PREFIX } from './whiteout.js';

export interface PackDirectoryOptions {
  /** Only the entry at this relative path and what is below it (plus its parent directories). */
  prefix?: string;
  /** Return false to leave out an entry (and, for a directory, everything below it). */
  filter?: (path: string, stats: BigIntStats) => boolean;
  /** Convert an overlayfs upper directory (whiteout devices and opaque directories) into OCI form. */
  overlay?: boolean;
  /** Overlay mode: whether a directory carries trusted.overlay.opaque=y. Default: always false. */
  isOpaque?: (absDirPath: string) => Promise<boolean>;
  /** Reads a file's extended attributes. Default: none (Node cannot read xattrs). */
  readXattrs?: (absPath: string, stats: BigIntStats) => Promise<Record<string, Uint8Array> | undefined>;
  /**
   * Keep sub-second mtimes (to the microsecond, as a PAX record per entry). Default false:
   * whole seconds, as BuildKit/containerd write layers, so no PAX header per file.
   */
  subSecondMtime?: boolean;
  onWarning?: (warning: ArchiveWarning) => void;
  signal?: AbortSignal;
}

const NS_PER_S = 1_000_000_000n;

function mtimeOf(stats: BigIntStats, subSecond: boolean): number {
  const ns = stats.mtimeNs;
  let seconds = ns / NS_PER_S;
  if (ns % NS_PER_S < 0n) seconds -= 1n; // floor, also before 1970
  if (!subSecond) return Number(seconds);
  const micros = (ns - seconds * NS_PER_S) / 1000n;
  // Parse the decimal so the number is the closest double to it and prints back the same way.
  return Number(`${seconds}.${micros.toString().padStart(6, '0')}`);
}

/** Linux encodes rdev as in glibc's gnu_dev_major/gnu_dev_minor. */
export function splitRdev(rdev: bigint): { devmajor: number; devminor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { devmajor: Number(major), devminor: Number(minor) };
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

function whiteoutEntry(path: string): TarWriterEntry {
  return { path, type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 };
}

/** Entries for the tree at `root` (the root itself is not an entry), ready for `generateTar`. */
export async function* packDirectory(
  root: string,
  options: PackDirectoryOptions = {},
): AsyncGenerator<TarWriterEntry, void, undefined> {
  const { filter, overlay = false, readXattrs, signal, onWarning } = options;
  const isOpaque = options.isOpaque ?? (async () => false);
  const subSecond = options.subSecondMtime ?? false;
  const firstPathOfInode = new Map<string, string>();

  async function entryFor(abs: string, rel: string, stats: BigIntStats): Promise<TarWriterEntry[]> {
    const base = {
      path: rel,
      mode: Number(stats.mode & 0o7777n),
      uid: Number(stats.uid),
      gid: Number(stats.gid),
      size: 0,
      mtime: mtimeOf(stats, subSecond),
    };
    if (overlay && stats.isCharacterDevice() && stats.rdev === 0n) {
      const slash = rel.lastIndexOf('/');
      return [whiteoutEntry(`${rel.slice(0, slash + 1)}${WHITEOUT_PREFIX}${rel.slice(slash + 1)}`)];
    }
    if (stats.isSocket()) {
      onWarning?.({
        code: 'socket-skipped',
        path: rel,
        message: `${rel}: sockets cannot be archived; skipped`,
      });
      return [];
    }
    const xattrs = readXattrs ? await readXattrs(abs, stats) : undefined;
    const withXattrs = xattrs && Object.keys(xattrs).length > 0 ? { xattrs } : {};
    if (stats.isDirectory()) {
      const out: TarWriterEntry[] = [{ ...base, ...withXattrs, type: 'dir' }];
      if (overlay && (await isOpaque(abs))) out.push(whiteoutEntry(`${rel}/${WHITEOUT_OPAQUE}`));
      return out;
    }
    if (stats.nlink > 1n) {
      const key = `${stats.dev}:${stats.ino}`;
      const first = firstPathOfInode.get(key);
      if (first !== undefined) return [{ ...base, type: 'hardlink', linkname: first }];
      firstPathOfInode.set(key, rel);
    }
    if (stats.isFile()) {
      const size = Number(stats.size);
      return [{ ...base, ...withXattrs, type: 'file', size, open: () => readFileBody(abs, size) }];
    }
    if (stats.isSymbolicLink()) {
      return [{ ...base, ...withXattrs, type: 'symlink', linkname: await readlink(abs) }];
    }
    if (stats.isCharacterDevice() || stats.isBlockDevice()) {
      const type = stats.isCharacterDevice() ? 'char' : 'block';
      return [{ ...base, ...withXattrs, type, ...splitRdev(stats.rdev) }];
    }
    if (stats.isFIFO()) return [{ ...base, ...withXattrs, type: 'fifo' }];
    throw new BuilderError('EINTERNAL', `${abs}: unknown file type`);
  }

  async function* walk(absDir: string, relDir: string): AsyncGenerator<TarWriterEntry, void, undefined> {
    const names = (await readdir(absDir)).sort(compareBytes);
    for (const name of names) {
      signal?.throwIfAborted();
      const abs = join(absDir, name);
      const rel = joinRel(relDir, name);
      const stats = await lstat(abs, { bigint: true });
      if (filter && !filter(rel, stats)) continue;
      yield* await entryFor(abs, rel, stats);
      if (stats.isDirectory()) yield* walk(abs, rel);
    }
  }

  const prefix = (options.prefix ?? '').split('/').filter((p) => p !== '' && p !== '.');
  if (prefix.includes('..'))
    throw new BuilderError('EINVAL', `pack prefix must stay inside the directory: ${options.prefix}`);
  if (prefix.length === 0) {
    if (overlay && (await isOpaque(root))) yield whiteoutEntry(WHITEOUT_OPAQUE);
    yield* walk(root, '');
    return;
  }
  // Parents of the prefix first (as plain directories), then the prefix and what is below it.
  let abs = root;
  let rel = '';
  for (let i = 0; i < prefix.length; i++) {
    abs = join(abs, prefix[i] as string);
    rel = joinRel(rel, prefix[i] as string);
    let stats: BigIntStats;
    try {
      stats = await lstat(abs, { bigint: true });
    } catch (err) {
      throw new BuilderError('ENOTFOUND', `pack prefix ${options.prefix}: ${rel} not found`, { cause: err });
    }
    const last = i === prefix.length - 1;
    if (!last && !stats.isDirectory()) {
      throw new BuilderError('ENOTFOUND', `pack prefix ${options.prefix}: ${rel} is not a directory`);
    }
    if (filter && !filter(rel, stats)) return;
    if (!last) {
      yield {
        path: rel,
        type: 'dir',
        mode: Number(stats.mode & 0o7777n),
        uid: Number(stats.uid),
        gid: Number(stats.gid),
        size: 0,
        mtime: mtimeOf(stats, subSecond),
      };
      continue;
    }
    yield* await entryFor(abs, rel, stats);
    if (stats.isDirectory()) yield* walk(abs, rel);
  }
}

/** `packDirectory` straight into a tar byte stream. */
export function packDirectoryToTar(
  root: string,
  options: PackDirectoryOptions & TarWriterOptions = {},
): Readable {
  return tarStream(packDirectory(root, options), options);
}
