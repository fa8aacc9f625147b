// COPY and ADD, carried out in a mounted rootfs: what goes where (a directory's contents,
// files, wildcard matches, inline heredocs, unpacked archives, downloads), with the owner,
// mode and mtime docker gives them. The caller has already selected the sources.

import { createReadStream } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  lchown,
  lstat,
  lutimes,
  mkdir,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { extractLayer } from '../../archive/extract.js';
import { decompressLayer } from '../../archive/layer-stream.js';
import { PatternMatcher } from '../../context/ignore-patterns.js';
import type { SelectedEntry, SelectedSource } from '../../context/sources.js';
import type { Heredoc } from '../../dockerfile/parser/ast.js';
import { chompHeredoc } from '../../dockerfile/parser/heredoc.js';
import { BuilderError } from '../../errors.js';
import { type Owner, resolveOwner } from '../../rootfs/users.js';
import { secureJoin } from '../../runtime/secure-join.js';
import { cleanPath } from './config.js';

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
}

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
  await mkdirp({ rootfs, owner, spec }, path);
}

/** Creates `path` (container path) and missing parents, owned like the copy. Returns the host path. */
async function mkdirp(ctx: Ctx, path: string): Promise<string> {
  const parts = cleanPath(path).split('/').filter(Boolean);
  let current = '/';
  for (const part of parts) {
    current = current === '/' ? `/${part}` : `${current}/${part}`;
    const host = await secureJoin(ctx.rootfs, current);
    const st = await lstat(host).catch(() => undefined);
    if (st?.isDirectory()) continue;
    if (st) {
      throw new BuilderError('EINVAL', `cannot copy to ${path}: ${current} exists and is not a directory`, {
        hint: 'Choose a destination whose parent directories are directories.',
      });
    }
    await mkdir(host, { mode: 0o755 });
    await chmod(host, 0o755);
    const owner = ctx.owner ?? { uid: 0, gid: 0 };
    await chown(host, owner.uid, owner.gid);
    await utimes(host, ctx.spec.now, ctx.spec.now);
  }
  return secureJoin(ctx.rootfs, path);
}

async function removeIfConflicting(host: string, wantDir: boolean): Promise<void> {
  const st = await lstat(host).catch(() => undefined);
  if (!st) return;
  if (wantDir && st.isDirectory()) return;
  await rm(host, { recursive: true, force: true });
}

async function applyMeta(
  ctx: Ctx,
  host: string,
  source: { mode: number; uid: number; gid: number; mtime: Date },
  isLink: boolean,
): Promise<void> {
  const owner = ctx.owner ?? (ctx.spec.keepOwner ? { uid: source.uid, gid: source.gid } : { uid: 0, gid: 0 });
  await lchown(host, owner.uid, owner.gid);
  if (isLink) {
    await lutimes(host, source.mtime, source.mtime);
    return;
  }
  await chmod(host, ctx.spec.chmod ?? source.mode & 0o7777);
  await utimes(host, source.mtime, source.mtime);
}

/** Copies one entry (not recursing: entries come in walk order). */
async function copyEntry(
  ctx: Ctx,
  entry: SelectedEntry,
  destHost: string,
  followLink: boolean,
): Promise<void> {
  let st = entry.stat;
  let from = entry.abs;
  if (followLink && entry.type === 'symlink') {
    // The source path itself is followed, as COPY does; symlinks inside a tree are kept.
    st = await stat(entry.abs);
  }
  const meta = { mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtime };
  if (st.isDirectory()) {
    await removeIfConflicting(destHost, true);
    await mkdir(destHost, { recursive: true });
    await applyMeta(ctx, destHost, meta, false);
  } else if (st.isSymbolicLink()) {
    await removeIfConflicting(destHost, false);
    await symlink(await readlink(from), destHost);
    await applyMeta(ctx, destHost, meta, true);
  } else if (st.isFile()) {
    await removeIfConflicting(destHost, false);
    if (followLink && entry.type === 'symlink') from = entry.abs;
    await copyFile(from, destHost);
    await applyMeta(ctx, destHost, meta, false);
  } else {
    throw new BuilderError('EINVAL', `cannot copy ${entry.path}: not a regular file, directory or symlink`);
  }
}

async function isTarArchive(file: string): Promise<boolean> {
  const head = Buffer.alloc(512);
  const { open } = await import('node:fs/promises');
  const fh = await open(file, 'r');
  try {
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true;
    if (bytesRead >= 3 && head.subarray(0, 3).toString('latin1') === 'BZh') return true;
    if (bytesRead >= 6 && head[0] === 0xfd && head.subarray(1, 6).toString('latin1') === '7zXZ\0')
      return true;
    return bytesRead >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
  } finally {
    await fh.close();
  }
}

/** Carries out a COPY/ADD in `rootfs` (a mounted, writable root filesystem). */
export async function performCopy(rootfs: string, spec: CopySpec): Promise<void> {
  const owner = spec.chown === undefined ? undefined : await resolveOwner(rootfs, spec.chown);
  const ctx: Ctx = { rootfs, owner, spec };
  const exclude = spec.exclude.length > 0 ? new PatternMatcher(spec.exclude) : undefined;
  const destHostRaw = await secureJoin(rootfs, spec.dest);
  const destStat = await stat(destHostRaw).catch(() => undefined);
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

  const fileTarget = async (name: string): Promise<string> => {
    if (destIsDir) {
      await mkdirp(ctx, spec.dest);
      return secureJoin(rootfs, `${cleanPath(spec.dest)}/${name}`);
    }
    await mkdirp(ctx, dirname(cleanPath(spec.dest)));
    return secureJoin(rootfs, cleanPath(spec.dest));
  };

  for (const source of spec.selected) {
    const pivot = source.source.indexOf('/./');
    for (const match of source.matches) {
      const [root, ...tree] = match.entries;
      if (!root) continue;
      const rootType =
        root.type === 'symlink' ? ((await stat(root.abs)).isDirectory() ? 'dir' : 'file') : root.type;
      // --parents keeps the source's path (from the /./ pivot, if any) under the destination.
      const keptPrefix = spec.parents
        ? pivot === -1
          ? match.path
          : match.path.slice(Math.max(0, source.source.slice(0, pivot).replace(/^\.?\/*/, '').length + 1))
        : '';
      if (rootType === 'dir') {
        const base = keptPrefix === '' ? cleanPath(spec.dest) : `${cleanPath(spec.dest)}/${keptPrefix}`;
        const baseHost = await mkdirp(ctx, base);
        if (keptPrefix !== '') await copyEntry(ctx, root, baseHost, true);
        for (const e of tree) {
          if (exclude?.matchesOrParentMatches(e.rel)) continue;
          await copyEntry(ctx, e, await secureJoin(rootfs, `${base}/${e.rel}`), false);
        }
        continue;
      }
      const name = basename(match.path);
      if (exclude?.matchesOrParentMatches(name)) continue;
      if (spec.unpackArchives && (await isTarArchive(root.abs))) {
        const dir = await mkdirp(ctx, cleanPath(spec.dest));
        const { tar } = await decompressLayer(createReadStream(root.abs));
        await extractLayer(tar, dir, { whiteouts: 'keep' });
        continue;
      }
      const target =
        keptPrefix !== ''
          ? await mkdirp(ctx, `${cleanPath(spec.dest)}/${dirname(keptPrefix)}`).then(() =>
              secureJoin(rootfs, `${cleanPath(spec.dest)}/${keptPrefix}`),
            )
          : await fileTarget(name);
      await copyEntry(ctx, root, target, true);
    }
  }

  for (const doc of spec.heredocs) {
    const target = await fileTarget(doc.name);
    await removeIfConflicting(target, false);
    await writeFile(target, doc.chomp ? chompHeredoc(doc.content) : doc.content);
    await applyMeta(ctx, target, { mode: 0o644, uid: 0, gid: 0, mtime: spec.now }, false);
  }

  for (const d of spec.downloads) {
    const target = await fileTarget(d.name);
    await removeIfConflicting(target, false);
    await copyFile(d.file, target);
    const mtime = d.mtime ?? spec.now;
    await applyMeta(ctx, target, { mode: 0o600, uid: 0, gid: 0, mtime }, false);
  }
}

export function joinDest(workdir: string | undefined, dest: string): string {
  const trailing = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  const abs = dest.startsWith('/') ? dest : join(workdir && workdir !== '' ? workdir : '/', dest);
  const cleaned = cleanPath(abs);
  return trailing && cleaned !== '/' ? `${cleaned}/` : cleaned === '/' ? '/' : cleaned;
}
