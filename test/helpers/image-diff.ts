// Views of an image that two builders can be compared on, ignoring timestamps and compressed
// bytes: the config (normalised), the history, each layer's tar entries, and the flattened
// filesystem. Docker's side comes from a `docker save` archive; ours from the store and a
// flattened directory. Each view is a list of lines, so a failed comparison shows a readable diff.

import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { decompressLayer } from '../../src/archive/layer-stream.js';
import { readTar } from '../../src/archive/tar-reader.js';

/** One file system entry, as both a layer entry and a flattened file are described. */
export interface FsEntry {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256: string;
  link: string;
  /** Seconds, from a layer's tar header (not compared by entryLine; walkTree leaves it out). */
  mtime?: number;
}

export function entryLine(e: FsEntry): string {
  const mode = e.mode.toString(8).padStart(4, '0');
  const what = e.type === 'file' ? `${e.size} ${e.sha256.slice(0, 16)}` : e.link === '' ? '' : `-> ${e.link}`;
  return `${e.path} ${e.type} ${mode} ${e.uid}:${e.gid} ${what}`.trimEnd();
}

function cleanTarPath(p: string): string {
  return p.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
}

async function bodyHash(body: Readable): Promise<{ sha256: string; bytes: Buffer }> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  const bytes = Buffer.concat(chunks);
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
}

/** The entries of a layer tar (plain or gzip), in archive order; hardlinks keep their target. */
export async function layerEntries(blob: Readable | AsyncIterable<Uint8Array>): Promise<FsEntry[]> {
  const { tar } = await decompressLayer(blob);
  const out: FsEntry[] = [];
  for await (const e of readTar(tar)) {
    const { sha256 } = await bodyHash(e.body);
    const type = e.type === 'file' ? 'file' : e.type;
    out.push({
      path: cleanTarPath(e.path),
      type,
      mode: e.mode & 0o7777,
      uid: e.uid,
      gid: e.gid,
      size: type === 'file' ? e.size : 0,
      sha256: type === 'file' ? sha256 : '',
      link: e.type === 'symlink' || e.type === 'hardlink' ? cleanLink(e.type, e.linkname) : '',
      mtime: Math.floor(e.mtime),
    });
  }
  return out;
}

function cleanLink(type: string, link: string): string {
  return type === 'hardlink' ? cleanTarPath(link) : link;
}

const WH = '.wh.';
const OPQ = '.wh..wh..opq';

function dropTree(fs: Map<string, FsEntry>, path: string): void {
  for (const p of [...fs.keys()]) if (p === path || p.startsWith(`${path}/`)) fs.delete(p);
}

/**
 * Applies layers in order to an in-memory tree, as a layer-aware extractor would: `.wh.NAME`
 * deletes NAME, `DIR/.wh..wh..opq` hides what lower layers had in DIR, a non-directory
 * replaces a directory with everything in it, hardlinks become the file they point at.
 */
export function flattenLayers(layers: readonly FsEntry[][]): FsEntry[] {
  const fs = new Map<string, FsEntry>();
  for (const layer of layers) {
    // Deletions apply to the layers below, whatever their place in this layer's tar.
    for (const e of layer) {
      const slash = e.path.lastIndexOf('/');
      const dir = slash === -1 ? '' : e.path.slice(0, slash);
      const base = e.path.slice(slash + 1);
      if (base === OPQ) {
        for (const p of [...fs.keys()]) if (dir === '' || p.startsWith(`${dir}/`)) fs.delete(p);
      } else if (base.startsWith(WH)) {
        dropTree(fs, (dir === '' ? '' : `${dir}/`) + base.slice(WH.length));
      }
    }
    for (const e of layer) {
      const base = e.path.slice(e.path.lastIndexOf('/') + 1);
      if (e.path === '' || base.startsWith(WH)) continue;
      const existing = fs.get(e.path);
      if (existing && (existing.type !== 'dir' || e.type !== 'dir')) dropTree(fs, e.path);
      if (e.type === 'hardlink') {
        const target = fs.get(e.link);
        if (target) fs.set(e.path, { ...target, path: e.path });
        continue;
      }
      fs.set(e.path, { ...e });
    }
  }
  return [...fs.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A directory's tree (the directory itself excluded), sorted by path. */
export async function walkTree(root: string): Promise<FsEntry[]> {
  const out: FsEntry[] = [];
  const visit = async (rel: string) => {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, path);
      const st = await lstat(abs);
      const type = st.isDirectory()
        ? 'dir'
        : st.isFile()
          ? 'file'
          : st.isSymbolicLink()
            ? 'symlink'
            : st.isCharacterDevice()
              ? 'char'
              : st.isBlockDevice()
                ? 'block'
                : st.isFIFO()
                  ? 'fifo'
                  : 'other';
      const sha256 =
        type === 'file'
          ? createHash('sha256')
              .update(await readFile(abs))
              .digest('hex')
          : '';
      out.push({
        path,
        type,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: type === 'file' ? st.size : 0,
        sha256,
        link: type === 'symlink' ? await readlink(abs) : '',
      });
      if (type === 'dir') await visit(path);
    }
  };
  await visit('');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The files of a `docker save` archive (small images only: it is read into memory). */
export async function readArchive(stream: Readable): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const links: [string, string][] = [];
  for await (const e of readTar(stream)) {
    const { bytes } = await bodyHash(e.body);
    if (e.type === 'file') files.set(cleanTarPath(e.path), bytes);
    // docker save writes a layer that appears twice as a symlink to the first copy.
    else if (e.type === 'symlink') links.push([cleanTarPath(e.path), e.linkname]);
  }
  for (const [path, target] of links) {
    const resolved = posix.normalize(posix.join(posix.dirname(path), target));
    const bytes = files.get(resolved);
    if (bytes) files.set(path, bytes);
  }
  return files;
}

export interface SavedImage {
  config: Record<string, unknown>;
  layers: FsEntry[][];
}

/** The first image of a `docker save` archive: its config and its layers' entries. */
export async function savedImage(files: Map<string, Buffer>): Promise<SavedImage> {
  const manifestBytes = files.get('manifest.json');
  if (!manifestBytes) throw new Error('no manifest.json in the archive');
  const [manifest] = JSON.parse(manifestBytes.toString('utf8')) as { Config: string; Layers: string[] }[];
  if (!manifest) throw new Error('empty manifest.json');
  const configBytes = files.get(cleanTarPath(manifest.Config));
  if (!configBytes) throw new Error(`config ${manifest.Config} missing from the archive`);
  const layers: FsEntry[][] = [];
  for (const l of manifest.Layers) {
    const bytes = files.get(cleanTarPath(l));
    if (!bytes) throw new Error(`layer ${l} missing from the archive`);
    layers.push(await layerEntries(Readable.from([bytes])));
  }
  return { config: JSON.parse(configBytes.toString('utf8')) as Record<string, unknown>, layers };
}

type Json = Record<string, unknown>;

/** Fields only the classic builder (or one side) writes: compared only when both have them. */
const ONE_SIDED = ['container', 'container_config', 'docker_version'];

/**
 * The config minus what may differ between two correct builds: `created`, history times, the
 * diff IDs (they hash layer bytes, mtimes included). History is compared on its own.
 */
export function normaliseConfig(config: Json, other: Json): Json {
  const out: Json = { ...config };
  delete out.created;
  delete out.history;
  for (const k of ONE_SIDED) if (!(k in other)) delete out[k];
  const rootfs = out.rootfs as { type?: string; diff_ids?: unknown[] } | undefined;
  if (rootfs) out.rootfs = { type: rootfs.type, layers: rootfs.diff_ids?.length ?? 0 };
  return JSON.parse(JSON.stringify(out)) as Json;
}

/** History entries without their times, plus whether each has one; `createdBy` maps created_by. */
export function historyLines(config: Json, createdBy: (line: string) => string = (l) => l): string[] {
  const history = (config.history ?? []) as Json[];
  return history.map((h) => {
    const { created, ...rest } = h;
    if (typeof rest.created_by === 'string') rest.created_by = createdBy(rest.created_by);
    return `${JSON.stringify(rest)}${created === undefined ? ' (no created)' : ''}`;
  });
}
