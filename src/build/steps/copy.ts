// COPY and ADD, carried out in a mounted rootfs: what goes where (a directory's contents,
// files, wildcard matches, inline heredocs, unpacked archives, downloads), with the owner,
// mode and mtime docker gives them. The caller has already selected the sources.

import {
  chmodSync,
  chownSync,
  closeSync,
  createReadStream,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readlinkSync,
  readSync,
  rmSync,
  type Stats,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { copyFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { extractLayer } from '../../archive/extract.js';
import { decompressLayer } from '../../archive/layer-stream.js';
import { PatternMatcher } from '../../context/ignore-patterns.js';
import type { SelectedEntry, SelectedSource, SourceMatch } from '../../context/sources.js';
import { walkContext } from '../../context/walk.js';
import type { Heredoc } from '../../dockerfile/parser/ast.js';
import { chompHeredoc } from '../../dockerfile/parser/heredoc.js';
import { BuilderError } from '../../errors.js';
import { type Owner, resolveOwner } from '../../rootfs/users.js';
import { secureJoin } from '../../runtime/secure-join.js';
import type { FilePool, PoolLinkBatch } from '../../snapshot/file-pool.js';
import type { LowerLayers } from '../../snapshot/lower-layers.js';
import { isErrno, lgetxattr, llistxattr, lsetxattr } from '../../sys/index.js';
import { cleanPath } from './config.js';
import { childPath, DestinationResolver, type Target } from './copy-dest.js';

export type { Owner };
export { resolveOwner };

export interface CopySpec {
  /** Destination as written after expansion and WORKDIR resolution: absolute, may end in '/'. */
  dest: string;
  /** Sources found in the context or another stage's rootfs, in order. */
  selected: SelectedSource[];
  heredocs: Heredoc[];
  /** `--chown` as written (`user[:group]`), resolved in the rootfs. */
  chown?: string;
  /** `--chmod` already parsed. */
  chmod?: number;
  exclude: string[];
  parents: boolean;
  /** Keep the source's uid/gid (COPY --from) instead of 0:0 (the context). */
  keepOwner: boolean;
  /** ADD: unpack local tar archives into the destination. */
  unpackArchives: boolean;
  /** Downloaded ADD sources: file name → local temp file. */
  downloads: { name: string; file: string; mtime?: Date }[];
  /** Time for directories the copy creates (SOURCE_DATE_EPOCH, else now). */
  now: Date;
  /** The rootfs given is a snapshot's upper dir, written directly (see DirectCopy). */
  direct?: DirectCopy;
}

/**
 * COPY into an overlay snapshot's own (upper) directory, unmounted, so that files can be
 * hard-linked from the pool (RootfsManager.mutateDirect). That gives what the copy through the
 * mount gives only while the copy creates nothing the layers below have: a directory of
 * theirs on the way is created in the upper dir with their metadata (overlay's copy-up), and
 * anything else met there (a file or symlink in the way, a path written twice) throws
 * NotDirectError, after which the caller copies through the mount instead.
 */
export interface DirectCopy {
  /** The layers below, looked up as overlay merges them; undefined when there are none. */
  lowers: LowerLayers | undefined;
  pool: FilePool | undefined;
}

/** The copy needs overlay's own handling of what is below (see DirectCopy): do it through the mount. */
export class NotDirectError extends Error {}

/**
 * Copies the direct way can take: files from the build context to plain destinations. An
 * owner by name needs the image's /etc/passwd, --parents and heredocs other paths through
 * the code, ADD archives and downloads other writers; those copy through the mount.
 */
export function directCopyFits(spec: CopySpec): boolean {
  return (
    spec.chown === undefined &&
    !spec.parents &&
    !spec.keepOwner &&
    !spec.unpackArchives &&
    spec.heredocs.length === 0 &&
    spec.downloads.length === 0
  );
}

export function parseChmod(text: string): number {
  if (!/^[0-7]+$/.test(text) || Number.parseInt(text, 8) > 0o7777) {
    throw new BuilderError(
      'EINVAL',
      `invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777`,
    );
  }
  return Number.parseInt(text, 8);
}

interface Ctx {
  rootfs: string;
  owner: Owner | undefined;
  spec: CopySpec;
  dest: DestinationResolver;
  /** With spec.direct: directories this copy created (nothing below them is in the lower layers). */
  fresh?: Set<string>;
  /** With spec.direct and a pool: small files' links, made on a worker meanwhile. */
  links?: PoolLinkBatch | undefined;
}

/** What the layers below have at `path` (not following a final symlink), or undefined. */
function lowerEntry(ctx: Ctx, path: string): { stats: Stats; host: string } | undefined {
  const found = ctx.spec.direct?.lowers?.entry(path);
  if (found === undefined || found.kind === 'absent') return undefined;
  // Through a symlink or a file of the layers below: overlay's rules, through the mount.
  if (found.kind === 'blocked') throw new NotDirectError(`${found.at} is not a directory in a lower layer`);
  return found;
}

/** Direct copy: `path` is about to be created; the layers below must not have it. */
function assertNotBelow(ctx: Ctx, path: string): void {
  if (ctx.fresh === undefined) return;
  const slash = path.lastIndexOf('/');
  if (ctx.fresh.has(slash <= 0 ? '/' : path.slice(0, slash))) return;
  if (lowerEntry(ctx, path) !== undefined) throw new NotDirectError(`${path} is in a lower layer`);
}

/**
 * Direct copy: the directory `path` of the layers below, made in the upper dir as overlay
 * copies it up (owner, mode, xattrs, times). False when the layers below do not have it.
 */
function copyUpDirectory(ctx: Ctx, path: string, host: string): boolean {
  const below = lowerEntry(ctx, path);
  if (below === undefined) return false;
  const { stats: st, host: lower } = below;
  if (!st.isDirectory()) throw new NotDirectError(`${path} is not a directory in a lower layer`);
  mkdirSync(host, { mode: 0o700 });
  lchownSync(host, st.uid, st.gid);
  chmodSync(host, st.mode & 0o7777);
  for (const name of llistxattr(lower)) {
    const value = lgetxattr(lower, name);
    if (value !== null && !name.startsWith('trusted.overlay.')) lsetxattr(host, name, value);
  }
  utimesSync(host, st.atime, st.mtime);
  return true;
}

// Metadata calls and small files are synchronous: a few µs of syscalls each, where every
// awaited fs call is a thread-pool round trip (~50 µs here); a tree of 5,000 files made ~8 of
// them per file, one after the other. Bigger files are copied on the thread pool (copying 4
// at a time measured no faster here: the kernel's work is the cost).
const SYNC_COPY_MAX = 256 * 1024;
/** The small-file copy's buffer, shared: that copy never awaits, so two cannot interleave. */
let copyBuffer: Buffer | undefined;
/** How long the copy may hold the event loop (progress, signals) before letting it run. */
const HOLD_MS = 50;
// Not node:timers/promises, nor `performance` for the clock: each loads a module (~1 ms) at
// every build's start; Date.now() is fine grained enough for 50 ms.
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** WORKDIR's directory: `path` and missing parents, owned by `owner`. */
export async function makeDirectories(rootfs: string, path: string, owner: Owner, now: Date): Promise<void> {
  const spec: CopySpec = {
    dest: path,
    selected: [],
    heredocs: [],
    exclude: [],
    parents: false,
    keepOwner: false,
    unpackArchives: false,
    downloads: [],
    now,
  };
  mkdirp({ rootfs, owner, spec, dest: new DestinationResolver(rootfs) }, path);
}

/** Creates `path` (container path) and missing parents, owned like the copy. Returns the host path. */
function mkdirp(ctx: Ctx, path: string): string {
  const parts = cleanPath(path).split('/').filter(Boolean);
  let current = '/';
  for (const part of parts) {
    current = childPath(current, part);
    if (ctx.dest.knownDirectory(current) !== undefined) continue;
    const target = ctx.dest.resolve(current);
    const { host, existing: st } = target;
    if (st?.isDirectory()) {
      ctx.dest.isDirectory(current, target);
      continue;
    }
    if (st) {
      throw new BuilderError('EINVAL', `cannot copy to ${path}: ${current} exists and is not a directory`, {
        hint: 'Choose a destination whose parent directories are directories.',
      });
    }
    if (ctx.fresh !== undefined) {
      if (copyUpDirectory(ctx, current, host)) {
        ctx.dest.isDirectory(current, target);
        continue;
      }
      ctx.fresh.add(current);
    }
    mkdirSync(host, { mode: 0o755 });
    chmodSync(host, 0o755);
    const owner = ctx.owner ?? { uid: 0, gid: 0 };
    chownSync(host, owner.uid, owner.gid);
    utimesSync(host, ctx.spec.now, ctx.spec.now);
    ctx.dest.isDirectory(current, target);
  }
  return ctx.dest.knownDirectory(path) ?? ctx.dest.resolve(path).host;
}

/** Removes what is at the target unless it is the directory wanted. */
function removeIfConflicting(ctx: Ctx, target: Target, want: 'dir' | 'file' | 'symlink'): void {
  const st = target.existing;
  if (!st) return;
  if (want === 'dir' && st.isDirectory()) return;
  rmSync(target.host, { recursive: true, force: true });
  if (st.isDirectory() || st.isSymbolicLink() || want === 'symlink') ctx.dest.invalidate();
}

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

function ownerOf(ctx: Ctx, source: Meta): Owner {
  return ctx.owner ?? (ctx.spec.keepOwner ? { uid: source.uid, gid: source.gid } : { uid: 0, gid: 0 });
}

/** Owner, then mode (chown clears setuid/setgid), then times. */
function applyMeta(ctx: Ctx, host: string, source: Meta, isLink: boolean): void {
  const owner = ownerOf(ctx, source);
  lchownSync(host, owner.uid, owner.gid);
  if (isLink) {
    lutimesSync(host, source.mtime, source.mtime);
    return;
  }
  chmodSync(host, ctx.spec.chmod ?? source.mode & 0o7777);
  utimesSync(host, source.mtime, source.mtime);
}

/**
 * Writes `from`'s bytes to `to` and gives it the entry's owner, mode and mtime, all through
 * the two descriptors: copyFile + lchown/chmod/utimes walked the path four times and made ~15
 * syscalls a file (5,000 files in an overlay: ~1.5 s against ~1.0 s like this). `flags` 'wx'
 * creates only: returns false, having written nothing, when something is at `to`. `pooled`
 * (direct copy): the pool entry the finished file becomes, if the source did not change meanwhile.
 */
function writeCopy(
  ctx: Ctx,
  from: string,
  to: string,
  source: Meta,
  flags: 'w' | 'wx',
  pooled?: Pooled,
): boolean {
  const src = openSync(from, 'r');
  try {
    let dst: number;
    try {
      dst = openSync(to, flags, 0o600);
    } catch (err) {
      if (flags === 'wx' && isErrno(err, 'EEXIST')) return false;
      throw err;
    }
    try {
      copyBuffer ??= Buffer.allocUnsafeSlow(SYNC_COPY_MAX);
      for (let n = readSync(src, copyBuffer); n > 0; n = readSync(src, copyBuffer)) {
        for (let done = 0; done < n; ) done += writeSync(dst, copyBuffer, done, n - done);
      }
      const owner = ownerOf(ctx, source);
      fchownSync(dst, owner.uid, owner.gid);
      fchmodSync(dst, ctx.spec.chmod ?? source.mode & 0o7777);
      futimesSync(dst, source.mtime, source.mtime);
    } finally {
      closeSync(dst);
    }
    if (pooled !== undefined && sameSource(fstatSync(src), pooled.source)) pooled.pool.adopt(pooled.key, to);
    return true;
  } finally {
    closeSync(src);
  }
}

/** A pool entry for a file being copied (direct copy). */
interface Pooled {
  pool: FilePool;
  key: string;
  source: Stats;
}

/** The source is as it was when selected (size, times, inode): its bytes are the ones keyed. */
function sameSource(now: Stats, then: Stats): boolean {
  return (
    now.ino === then.ino &&
    now.dev === then.dev &&
    now.size === then.size &&
    now.mtimeMs === then.mtimeMs &&
    now.ctimeMs === then.ctimeMs
  );
}

/** Direct copy of a regular file to container path `dest`: its pool entry, if there is a pool. */
function pooledFile(ctx: Ctx, entry: SelectedEntry, dest: string, source: Meta): Pooled | undefined {
  const pool = ctx.spec.direct?.pool;
  if (pool === undefined) return undefined;
  const owner = ownerOf(ctx, source);
  const key = pool.keyOf({
    path: dest,
    source: entry.stat,
    uid: owner.uid,
    gid: owner.gid,
    mode: ctx.spec.chmod ?? source.mode & 0o7777,
    mtimeMs: source.mtime.getTime(),
  });
  return { pool, key, source: entry.stat };
}

/** Fails with EEXIST where anything is: the caller then looks. */
function tryCreate(create: () => void): boolean {
  try {
    create();
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  }
}

/**
 * The usual case: `dest` is below a known directory and nothing is there yet. Creates the entry
 * exclusively, so no lstat is needed first; false (nothing done) when something is there.
 */
function copyToFreshPath(ctx: Ctx, entry: SelectedEntry, dest: string, source: Meta): boolean {
  const target = ctx.dest.ifAbsent(dest);
  if (target === undefined) return false;
  const st = entry.stat;
  assertNotBelow(ctx, dest);
  if (st.isDirectory()) {
    if (!tryCreate(() => mkdirSync(target.host))) return false;
    applyMeta(ctx, target.host, source, false);
    ctx.dest.isDirectory(dest, target);
    ctx.fresh?.add(dest);
    return true;
  }
  if (st.isSymbolicLink()) {
    const link = readlinkSync(entry.abs);
    if (!tryCreate(() => symlinkSync(link, target.host))) return false;
    applyMeta(ctx, target.host, source, true);
    return true;
  }
  if (!st.isFile()) return false;
  const pooled = ctx.fresh === undefined ? undefined : pooledFile(ctx, entry, dest, source);
  if (pooled !== undefined && ctx.links !== undefined && st.size <= SYNC_COPY_MAX) {
    ctx.links.add(pooled.key, target.host, () => {
      // Not in the pool: copied as linkTo's false would have it (EEXIST: written twice).
      if (!writeCopy(ctx, entry.abs, target.host, source, 'wx', pooled))
        throw new NotDirectError(`${dest} needs the copy through the mount`);
    });
    return true;
  }
  if (pooled !== undefined) {
    try {
      if (pooled.pool.linkTo(pooled.key, target.host)) return true;
    } catch (err) {
      if (isErrno(err, 'EEXIST')) return false;
      throw err;
    }
  }
  return st.size <= SYNC_COPY_MAX && writeCopy(ctx, entry.abs, target.host, source, 'wx', pooled);
}

/**
 * Copies one entry to `dest` (a container path; not recursing: entries come in walk order;
 * symlinks are copied as links).
 */
async function copyEntry(ctx: Ctx, entry: SelectedEntry, dest: string): Promise<void> {
  const st = entry.stat;
  const from = entry.abs;
  const meta = { mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtime };
  if (copyToFreshPath(ctx, entry, dest, meta)) {
    if (ctx.links?.full) await ctx.links.send();
    return;
  }
  const target = ctx.dest.resolve(dest);
  const host = target.host;
  if (ctx.fresh !== undefined) {
    // Written twice by this copy, or met something: overlay's rules decide (through the mount).
    if (target.existing !== undefined || target.generation === -1)
      throw new NotDirectError(`${dest} needs the copy through the mount`);
    assertNotBelow(ctx, dest);
  }
  if (st.isDirectory()) {
    removeIfConflicting(ctx, target, 'dir');
    // An existing directory is kept as it is (mkdir -p would do nothing).
    if (!target.existing?.isDirectory()) mkdirSync(host, { recursive: true });
    applyMeta(ctx, host, meta, false);
    ctx.dest.isDirectory(dest, target);
    ctx.fresh?.add(dest);
  } else if (st.isSymbolicLink()) {
    removeIfConflicting(ctx, target, 'symlink');
    symlinkSync(readlinkSync(from), host);
    applyMeta(ctx, host, meta, true);
  } else if (st.isFile()) {
    removeIfConflicting(ctx, target, 'file');
    const pooled = ctx.fresh === undefined ? undefined : pooledFile(ctx, entry, dest, meta);
    if (st.size <= SYNC_COPY_MAX) {
      writeCopy(ctx, from, host, meta, 'w', pooled);
    } else {
      await copyFile(from, host);
      applyMeta(ctx, host, meta, false);
      if (pooled !== undefined && sameSource(statSync(from), pooled.source))
        pooled.pool.adopt(pooled.key, host);
    }
  } else {
    throw new BuilderError('EINVAL', `cannot copy ${entry.path}: not a regular file, directory or symlink`);
  }
}

/**
 * COPY follows a source that is itself a symlink (a file copies the target's content under the
 * source's name; a directory copies the target's tree), as BuildKit does. The link is resolved
 * inside `root` (the context or the source stage's rootfs), never on the host: an absolute
 * target starts again at `root`. Symlinks inside a copied tree stay symlinks.
 */
export async function followSourceLinks(
  root: string,
  selected: SelectedSource[],
  ignorePatterns: readonly string[],
): Promise<SelectedSource[]> {
  const out: SelectedSource[] = [];
  for (const source of selected) {
    const matches: SourceMatch[] = [];
    for (const match of source.matches) {
      const [first] = match.entries;
      if (match.type !== 'symlink' || !first) {
        matches.push(match);
        continue;
      }
      const host = await secureJoin(root, match.path);
      const st = await stat(host).catch(() => undefined);
      if (!st || (!st.isFile() && !st.isDirectory())) {
        throw new BuilderError(
          'ENOTFOUND',
          `"${match.path}": the symlink's target ${st ? 'is not a file or directory' : 'does not exist'}`,
          {
            hint: 'A COPY source that is a symlink is followed inside the build context (or the source stage).',
          },
        );
      }
      const resolved = {
        ...first,
        type: st.isDirectory() ? ('dir' as const) : ('file' as const),
        stat: st,
        abs: host,
      };
      if (!st.isDirectory()) {
        matches.push({ ...match, type: 'file', entries: [resolved] });
        continue;
      }
      const rel = relative(root, host).split(sep).join('/');
      const prefix = rel === '' ? '' : `${rel}/`;
      const tree: SelectedEntry[] = [];
      for await (const e of walkContext(root, {
        ...(rel === '' ? {} : { include: [rel] }),
        exclude: [...ignorePatterns],
      })) {
        if (e.path === rel || !e.path.startsWith(prefix)) continue;
        tree.push({ ...e, abs: join(root, e.path), rel: e.path.slice(prefix.length) });
      }
      matches.push({ ...match, type: 'dir', entries: [resolved, ...tree] });
    }
    out.push({ ...source, matches });
  }
  return out;
}

/**
 * ADD unpacks a local file that is a tar archive, plain or compressed with gzip, bzip2, xz or
 * zstd. As BuildKit, the file must still read as a tar once decompressed (a ustar/GNU header
 * first); a compressed file that holds no tar, or does not decompress, is copied as it is.
 */
async function isTarArchive(file: string): Promise<boolean> {
  const { tar } = await decompressLayer(createReadStream(file, { highWaterMark: 64 * 1024 }));
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of tar) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length >= 512) break;
    }
  } catch {
    return false;
  } finally {
    tar.destroy();
  }
  const head = Buffer.concat(chunks);
  return head.length >= 512 && head.subarray(257, 262).toString('latin1') === 'ustar';
}

/** Carries out a COPY/ADD in `rootfs` (a mounted, writable root filesystem). */
export async function performCopy(rootfs: string, spec: CopySpec): Promise<void> {
  if (spec.direct !== undefined && !directCopyFits(spec))
    throw new NotDirectError('this copy needs the rootfs mounted (--chown, --parents, heredocs, ADD)');
  const owner = spec.chown === undefined ? undefined : await resolveOwner(rootfs, spec.chown);
  const ctx: Ctx = { rootfs, owner, spec, dest: new DestinationResolver(rootfs) };
  if (spec.direct !== undefined) {
    ctx.fresh = new Set();
    ctx.links = spec.direct.pool?.batch();
  }
  try {
    await copyInto(ctx);
    await ctx.links?.finish();
  } catch (err) {
    // The caller removes the snapshot on failure: not while the worker still links into it.
    await ctx.links?.settle();
    if (isErrno(err, 'EEXIST') && ctx.fresh !== undefined)
      throw new NotDirectError(`${(err as { dest?: string }).dest ?? spec.dest} was written twice`);
    throw err;
  }
}

/** stat(2) on this thread (one call: no thread-pool round trip); undefined for any error. */
function statIfAny(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

async function copyInto(ctx: Ctx): Promise<void> {
  const { spec, rootfs } = ctx;
  const exclude = spec.exclude.length > 0 ? new PatternMatcher(spec.exclude) : undefined;
  const destHostRaw = await secureJoin(rootfs, spec.dest);
  let destStat = statIfAny(destHostRaw);
  if (destStat === undefined && spec.direct !== undefined) {
    destStat = lowerEntry(ctx, cleanPath(spec.dest))?.stats;
    if (destStat?.isSymbolicLink()) throw new NotDirectError(`${spec.dest} is a symlink in a lower layer`);
  }
  const matchCount =
    spec.selected.reduce((n, s) => n + s.matches.length, 0) + spec.heredocs.length + spec.downloads.length;
  const destIsDir = spec.dest.endsWith('/') || destStat?.isDirectory() === true || spec.parents;
  if (!destIsDir && matchCount > 1) {
    throw new BuilderError(
      'EINVAL',
      `When using COPY with more than one source file, the destination must be a directory and end with a /`,
      {
        hint: `Write the destination as "${spec.dest}/".`,
      },
    );
  }

  /** The container path a single file goes to. */
  const fileTarget = (name: string): string => {
    if (destIsDir) {
      mkdirp(ctx, spec.dest);
      return childPath(cleanPath(spec.dest), name);
    }
    mkdirp(ctx, dirname(cleanPath(spec.dest)));
    return cleanPath(spec.dest);
  };
  let held = Date.now();

  for (const source of spec.selected) {
    const pivot = source.source.indexOf('/./');
    for (const match of source.matches) {
      const [root, ...tree] = match.entries;
      if (!root) continue;
      // A symlink source was resolved by followSourceLinks: what is left is a file or a dir.
      const rootType = root.type;
      // --parents keeps the source's path (from the /./ pivot, if any) under the destination.
      const keptPrefix = spec.parents
        ? pivot === -1
          ? match.path
          : match.path.slice(Math.max(0, source.source.slice(0, pivot).replace(/^\.?\/*/, '').length + 1))
        : '';
      if (rootType === 'dir') {
        const base = keptPrefix === '' ? cleanPath(spec.dest) : childPath(cleanPath(spec.dest), keptPrefix);
        mkdirp(ctx, base);
        if (keptPrefix !== '') await copyEntry(ctx, root, base);
        for (const e of tree) {
          if (exclude?.matchesOrParentMatches(e.rel)) continue;
          await copyEntry(ctx, e, childPath(base, e.rel));
          if (Date.now() - held > HOLD_MS) {
            await yieldToLoop();
            held = Date.now();
          }
        }
        continue;
      }
      const name = basename(match.path);
      if (exclude?.matchesOrParentMatches(name)) continue;
      if (spec.unpackArchives && (await isTarArchive(root.abs))) {
        const dir = mkdirp(ctx, cleanPath(spec.dest));
        const { tar } = await decompressLayer(createReadStream(root.abs));
        await extractLayer(tar, dir, { whiteouts: 'keep' });
        // The archive may have replaced anything below the destination.
        ctx.dest.invalidate();
        continue;
      }
      let target: string;
      if (keptPrefix !== '') {
        mkdirp(ctx, `${cleanPath(spec.dest)}/${dirname(keptPrefix)}`);
        target = childPath(cleanPath(spec.dest), keptPrefix);
      } else {
        target = fileTarget(name);
      }
      await copyEntry(ctx, root, target);
    }
  }

  for (const doc of spec.heredocs) {
    const target = ctx.dest.resolve(fileTarget(doc.name));
    removeIfConflicting(ctx, target, 'file');
    writeFileSync(target.host, doc.chomp ? chompHeredoc(doc.content) : doc.content);
    applyMeta(ctx, target.host, { mode: 0o644, uid: 0, gid: 0, mtime: spec.now }, false);
  }

  for (const d of spec.downloads) {
    const target = ctx.dest.resolve(fileTarget(d.name));
    removeIfConflicting(ctx, target, 'file');
    await copyFile(d.file, target.host);
    const mtime = d.mtime ?? spec.now;
    applyMeta(ctx, target.host, { mode: 0o600, uid: 0, gid: 0, mtime }, false);
  }
}

export function joinDest(workdir: string | undefined, dest: string): string {
  const trailing = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  const abs = dest.startsWith('/') ? dest : join(workdir && workdir !== '' ? workdir : '/', dest);
  const cleaned = cleanPath(abs);
  return trailing && cleaned !== '/' ? `${cleaned}/` : cleaned === '/' ? '/' : cleaned;
}
