// A streaming, deterministic tar producer. Entries come from any (async) iterable; file bodies
// are pulled from `open()` one chunk at a time, so memory stays flat whatever the file sizes,
// and nothing is read until the consumer asks for more (Readable.from over an async
// generator gives backpressure for free).
//
// Determinism: numeric ids only (uname/gname empty), no atime/ctime, mtime kept or clamped to
// `sourceDateEpoch`, directories end in '/', PAX records in a fixed order (pax.ts), PAX
// header names derived from the entry path only (never a pid), no record padding after the
// two closing zero blocks.

import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { BuilderError } from '../errors.js';
import { filesReader, tarFileWriter } from '../sys/index.js';
import { OUT_BLOCK, takeBlock } from './block-pool.js';
import { encodePaxRecords, paxRecordsFor } from './pax.js';
import {
  BLOCK_SIZE,
  encodeHeader,
  encodePlainHeaderInto,
  MAX_OCTAL_SIZE,
  paddingFor,
  type TarEntryMeta,
  type TarEntryType,
  TYPEFLAG,
} from './tar-header.js';

export type TarBodySource = Readable | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** An entry to write. `open` is called once, when the entry's body is due, for a 'file' of size > 0. */
export interface TarWriterEntry extends TarEntryMeta {
  open?: () => TarBodySource | Promise<TarBodySource>;
  /**
   * The file on disk holding the body, when there is one: the body is then read straight into
   * the output blocks (no buffer or chunk of its own), and `open` is not called.
   */
  sourcePath?: string;
}

export interface TarWriterOptions {
  /** Clamp every mtime to min(mtime, sourceDateEpoch) (seconds), as SOURCE_DATE_EPOCH asks. */
  sourceDateEpoch?: number;
  signal?: AbortSignal;
  /**
   * Output blocks from block-pool.ts, for a consumer that gives them back (the content store,
   * when the tar goes straight into it). Default: new blocks, never reused.
   */
  recycleBlocks?: boolean;
}

const ENTRY_TYPES: ReadonlySet<string> = new Set<TarEntryType>([
  'file',
  'dir',
  'symlink',
  'hardlink',
  'char',
  'block',
  'fifo',
]);

/** Two zero blocks: the end-of-archive marker. */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK_SIZE);

/** Anything normalizeEntryPath would change or refuse: a NUL, a leading, trailing or double '/', a '.' or '..' segment. */
const NOT_NORMAL = /\0|^\/|\/$|\/\/|(?:^|\/)\.\.?(?:\/|$)/;

/**
 * Normalizes an entry path for writing: relative, '/'-separated, no '.' or empty segments,
 * directories with one trailing '/'. Absolute paths, '..' segments and NUL bytes are refused.
 */
export function normalizeEntryPath(path: string, isDir: boolean): string {
  // The common case, already normal: no split and join (thousands of entries in a layer).
  if (path.length > 0 && !NOT_NORMAL.test(path)) return isDir ? `${path}/` : path;
  if (path.includes('\0'))
    throw new BuilderError('EINVAL', `tar entry path contains NUL: ${JSON.stringify(path)}`);
  if (path.startsWith('/')) throw new BuilderError('EINVAL', `tar entry path is absolute: ${path}`);
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new BuilderError('EINVAL', `tar entry path contains "..": ${path}`);
    parts.push(part);
  }
  if (parts.length === 0)
    throw new BuilderError('EINVAL', `tar entry path is empty: ${JSON.stringify(path)}`);
  const joined = parts.join('/');
  return isDir ? `${joined}/` : joined;
}

/** A file or directory with no xattrs: a plain header may do (encodePlainHeaderInto checks the rest). */
function isPlain(entry: TarWriterEntry): boolean {
  if (entry.type !== 'file' && entry.type !== 'dir') return false;
  for (const _ in entry.xattrs) return false;
  return true;
}

function clampMtime(mtime: number, sourceDateEpoch: number | undefined): number {
  if (!Number.isFinite(mtime)) throw new BuilderError('EINVAL', `invalid mtime ${mtime}`);
  return sourceDateEpoch === undefined ? mtime : Math.min(mtime, sourceDateEpoch);
}

function checkId(what: string, value: number, path: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new BuilderError('EINVAL', `${path}: ${what} ${value} is not a non-negative integer`);
  }
}

/**
 * The header blocks of one entry (a PAX `x` header and its records when needed, then the
 * ustar header), exactly as the writer emits them. It does not validate or normalize the
 * path, so tests can build hostile archives with it; `generateTar` does both first.
 */
export function encodeEntryHeader(entry: TarEntryMeta, options: { sourceDateEpoch?: number } = {}): Buffer {
  const type = entry.type;
  if (!ENTRY_TYPES.has(type)) throw new BuilderError('EINVAL', `${entry.path}: unknown entry type ${type}`);
  const size = type === 'file' ? entry.size : 0;
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new BuilderError('EINVAL', `${entry.path}: invalid size ${entry.size}`);
  }
  checkId('uid', entry.uid, entry.path);
  checkId('gid', entry.gid, entry.path);
  const mtime = clampMtime(entry.mtime, options.sourceDateEpoch);
  const hasLink = type === 'symlink' || type === 'hardlink';
  const isDevice = type === 'char' || type === 'block';
  const linkname = hasLink ? (entry.linkname ?? '') : '';
  if (hasLink && linkname.length === 0)
    throw new BuilderError('EINVAL', `${entry.path}: ${type} without a linkname`);
  const { records, ustar } = paxRecordsFor({ ...entry, size, mtime, linkname });
  const headerMtime = Math.floor(mtime);
  const header = encodeHeader({
    name: ustar.name,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size,
    mtime: headerMtime,
    typeflag: TYPEFLAG[type],
    linkname: ustar.linkname,
    uname: '',
    gname: '',
    devmajor: isDevice ? (entry.devmajor ?? 0) : 0,
    devminor: isDevice ? (entry.devminor ?? 0) : 0,
  });
  if (records.length === 0) return header;
  const data = encodePaxRecords(records);
  const paxHeader = encodeHeader({
    name: paxHeaderName(ustar.name),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime: Math.min(Math.max(headerMtime, 0), MAX_OCTAL_SIZE),
    typeflag: 'x',
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, data, Buffer.alloc(paddingFor(data.length)), header]);
}

/** "dir/PaxHeaders/base": a name old readers extract harmlessly, derived from the entry's own. */
function paxHeaderName(ustarName: string): string {
  const trimmed = ustarName.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  const dir = slash < 0 ? '' : trimmed.slice(0, slash + 1);
  const base = slash < 0 ? trimmed : trimmed.slice(slash + 1);
  return `${dir}PaxHeaders/${base}`.slice(0, 100);
}

/**
 * Entries one at a time; a synchronous iterable in batches, so that `for await` costs a
 * promise per batch rather than per entry (5,000 entries in a big COPY's layer).
 */
async function* inOrder<T>(entries: Iterable<T> | AsyncIterable<T>): AsyncGenerator<T[]> {
  if (!(Symbol.iterator in entries)) {
    for await (const entry of entries) yield [entry];
    return;
  }
  let batch: T[] = [];
  for (const entry of entries) {
    batch.push(entry);
    if (batch.length === 256) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

async function* bodyChunks(source: TarBodySource): AsyncGenerator<Uint8Array> {
  // Readable and AsyncIterable both iterate asynchronously; a plain Iterable (e.g. an array of
  // Buffers in tests) synchronously.
  yield* source as AsyncIterable<Uint8Array>;
}

/**
 * The archive as an async generator of Buffers: headers, bodies (streamed from `open()`),
 * padding, and the end-of-archive marker. Throws EINVAL for invalid entries and
 * EPRECONDITION when a file's content does not match its declared size (it changed while
 * being archived).
 */
/**
 * Output is gathered into blocks of this size: a tree of 5,000 small files is then ~100
 * chunks downstream (hash, store) rather than 15,000 (header, body, padding each).
 */
const ZEROS = Buffer.alloc(BLOCK_SIZE);
/** One byte past a body: a file that grew since its stat still has one. */
const PROBE = Buffer.alloc(1);

function changedWhileArchiving(path: string, written: number, size: number): BuilderError {
  return written > size
    ? new BuilderError(
        'EPRECONDITION',
        `${path}: content is longer than its size ${size} (changed while archiving?)`,
      )
    : new BuilderError(
        'EPRECONDITION',
        `${path}: content has ${written} bytes, expected ${size} (changed while archiving?)`,
      );
}

/** The entry's path and link name as written: normalized, refused when they cannot be. */
function namesOf(entry: TarWriterEntry): { path: string; linkname: string | undefined } {
  const path = normalizeEntryPath(entry.path, entry.type === 'dir');
  let linkname = entry.linkname;
  if (entry.type === 'hardlink') linkname = normalizeEntryPath(entry.linkname ?? '', false);
  if (linkname?.includes('\0')) throw new BuilderError('EINVAL', `${path}: linkname contains NUL`);
  return { path, linkname };
}

/**
 * The entry's header: written into `buf` at `at` when it is a plain one and there is room
 * (the bytes written are returned), else encoded on its own (the Buffer is returned).
 */
function writeHeader(
  entry: TarWriterEntry,
  names: { path: string; linkname: string | undefined },
  options: TarWriterOptions,
  buf: Buffer,
  at: number,
): number | Buffer {
  if (at + BLOCK_SIZE <= buf.length && isPlain(entry)) {
    const size = entry.type === 'file' ? entry.size : 0;
    const mtime = clampMtime(entry.mtime, options.sourceDateEpoch);
    const type = entry.type === 'file' ? '0' : '5';
    if (encodePlainHeaderInto(buf, at, names.path, type, entry.mode, entry.uid, entry.gid, size, mtime))
      return BLOCK_SIZE;
  }
  return encodeEntryHeader({ ...entry, ...names }, options);
}

export async function* generateTar(
  entries: Iterable<TarWriterEntry> | AsyncIterable<TarWriterEntry>,
  options: TarWriterOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const { signal } = options;
  // Yielded blocks are never written again by us: the consumer may hold them as long as it
  // likes. Recycled ones (block-pool.ts) come back only when their last consumer says so.
  const newBlock = options.recycleBlocks === true ? takeBlock : () => Buffer.allocUnsafeSlow(OUT_BLOCK);
  let block = newBlock();
  let used = 0;
  // Bodies that fit in the block being filled are read into it on a libuv worker once it is
  // full, while this thread encodes the next block's headers: on bigctx's 5,000 × 20 KB the
  // reads and the headers each cost ~50 ms, which then overlap instead of adding up.
  const readMany = filesReader();
  let paths: string[] = [];
  let ranges: number[] = [];
  let names: string[] = [];
  /** The full block whose bodies are being read; yielded once they are, before anything else. */
  let ahead: { block: Buffer; reads: Promise<void> | undefined } | undefined;

  const readBodies = (into: Buffer): Promise<void> | undefined => {
    if (paths.length === 0 || readMany === undefined) return undefined;
    const [p, r, n] = [paths, Float64Array.from(ranges), names];
    paths = [];
    ranges = [];
    names = [];
    const reads = readMany(p, into, r).then((counts) => {
      for (let i = 0; i < counts.length; i++) {
        const size = r[2 * i + 1] as number;
        if (counts[i] !== size) throw changedWhileArchiving(n[i] as string, counts[i] as number, size);
      }
    });
    reads.catch(() => {}); // awaited before the block is yielded; not unhandled if we stop first
    return reads;
  };
  /** The block before the full one goes out; the full one's bodies are read meanwhile. */
  async function* passOn(): AsyncGenerator<Buffer> {
    if (used === 0) return;
    const full = block.subarray(0, used);
    const reads = readBodies(full);
    block = newBlock();
    used = 0;
    yield* drain();
    ahead = { block: full, reads };
  }
  async function* drain(): AsyncGenerator<Buffer> {
    if (ahead === undefined) return;
    const { block: out, reads } = ahead;
    ahead = undefined;
    await reads;
    yield out;
  }

  for await (const batch of inOrder(entries))
    for (const entry of batch) {
      signal?.throwIfAborted();
      const as = namesOf(entry);
      const { path } = as;
      const hasBody = entry.type === 'file' && entry.size > 0;
      const pad = hasBody ? paddingFor(entry.size) : 0;
      if (!hasBody || entry.sourcePath !== undefined) {
        if (used === OUT_BLOCK) yield* passOn();
        const header = writeHeader(entry, as, options, block, used);
        if (typeof header === 'number') {
          used += header;
        } else {
          if (used + header.length > OUT_BLOCK) yield* passOn();
          if (header.length > OUT_BLOCK) {
            yield* drain();
            yield header;
          } else {
            header.copy(block, used);
            used += header.length;
          }
        }
        if (!hasBody) continue;
        if (readMany !== undefined && entry.size <= OUT_BLOCK - used) {
          paths.push(entry.sourcePath as string);
          ranges.push(used, entry.size);
          names.push(path);
          used += entry.size;
        } else {
          // The body, read synchronously straight into the blocks: from the page cache a read is
          // a memory copy, where an awaited one is a thread-pool round trip per chunk.
          const fd = openSync(entry.sourcePath as string, 'r');
          try {
            let done = 0;
            while (done < entry.size) {
              if (used === OUT_BLOCK) {
                yield* passOn();
                signal?.throwIfAborted();
              }
              const n = readSync(fd, block, used, Math.min(entry.size - done, OUT_BLOCK - used), done);
              if (n === 0) throw changedWhileArchiving(path, done, entry.size);
              used += n;
              done += n;
            }
            if (readSync(fd, PROBE, 0, 1, done) > 0) throw changedWhileArchiving(path, done + 1, entry.size);
          } finally {
            closeSync(fd);
          }
        }
        if (used + pad > OUT_BLOCK) yield* passOn();
        block.fill(0, used, used + pad);
        used += pad;
        continue;
      }
      if (used > 0) yield* passOn();
      yield* drain();
      yield encodeEntryHeader({ ...entry, ...as }, options);
      if (!hasBody) continue;
      if (!entry.open)
        throw new BuilderError('EINVAL', `${path}: file of ${entry.size} bytes without open()`);
      let written = 0;
      for await (const chunk of bodyChunks(await entry.open())) {
        signal?.throwIfAborted();
        if (chunk.byteLength === 0) continue;
        written += chunk.byteLength;
        if (written > entry.size) throw changedWhileArchiving(path, written, entry.size);
        yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
      if (written !== entry.size) throw changedWhileArchiving(path, written, entry.size);
      if (pad > 0) yield ZEROS.subarray(0, pad);
    }
  if (used + END_OF_ARCHIVE.length > OUT_BLOCK) yield* passOn();
  END_OF_ARCHIVE.copy(block, used);
  used += END_OF_ARCHIVE.length;
  yield* passOn();
  yield* drain();
}

/**
 * A tar of `entries` (a function, so the archive can be made more than once) that reads as
 * generateTar's blocks, or, where the native addon is, writes itself into a file: headers
 * encoded here, bodies read, hashed and written by the addon's threads (native/tar_writer.c).
 * A big COPY's layer then costs this thread its headers only (bigctx: 5,000 files).
 */
export class TarArchive implements AsyncIterable<Buffer> {
  constructor(
    private readonly entries: () => Iterable<TarWriterEntry> | AsyncIterable<TarWriterEntry>,
    private readonly options: TarWriterOptions = {},
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return generateTar(this.entries(), this.options);
  }

  /**
   * The whole archive as bytes when it has at most `max` of them (a one-file COPY's layer), its
   * bodies read on this thread: a small layer is then stored as the small blob it is, without
   * writeToFile's threads and thread-pool round trips. Undefined, having read no body, when it
   * is bigger, or when writeToFile could not write it either. Throws as writeToFile does for a
   * file whose size changed since its entry was made.
   */
  inMemory(max: number): Buffer | undefined {
    const list = this.entries();
    if (!(Symbol.iterator in list)) return undefined;
    const { signal } = this.options;
    const headers: Buffer[] = [];
    const bodies: { path: string; source: string; size: number }[] = [];
    let total = END_OF_ARCHIVE.length;
    const scratch = Buffer.allocUnsafe(BLOCK_SIZE);
    for (const entry of list) {
      signal?.throwIfAborted();
      const as = namesOf(entry);
      const hasBody = entry.type === 'file' && entry.size > 0;
      if (hasBody && entry.sourcePath === undefined) return undefined;
      const header = writeHeader(entry, as, this.options, scratch, 0);
      const bytes = typeof header === 'number' ? Buffer.from(scratch.subarray(0, header)) : header;
      total += bytes.length + (hasBody ? entry.size + paddingFor(entry.size) : 0);
      if (total > max) return undefined;
      headers.push(bytes);
      bodies.push({
        path: as.path,
        source: hasBody ? (entry.sourcePath as string) : '',
        size: hasBody ? entry.size : 0,
      });
    }
    const out = Buffer.alloc(total); // zeros: the padding and the end-of-archive marker
    let at = 0;
    for (const [i, header] of headers.entries()) {
      at += header.copy(out, at);
      const body = bodies[i] as { path: string; source: string; size: number };
      if (body.size === 0) continue;
      const read = readFileSync(body.source);
      // As the addon reports it: the bytes read, one more when the file has more than its size.
      if (read.length !== body.size)
        throw changedWhileArchiving(body.path, Math.min(read.length, body.size + 1), body.size);
      at += read.copy(out, at) + paddingFor(body.size);
    }
    return out;
  }

  /**
   * Writes the archive into `fd` (a new regular file, from offset 0): its SHA-256 (hex) and
   * size. Undefined, with nothing written, where it cannot: no addon, entries that are not a
   * synchronous iterable, a body that only open() gives.
   */
  async writeToFile(fd: number): Promise<{ digest: string; size: number } | undefined> {
    const write = tarFileWriter();
    const list = write === undefined ? undefined : this.entries();
    if (write === undefined || list === undefined || !(Symbol.iterator in list)) return undefined;
    const { signal } = this.options;
    let headers = Buffer.allocUnsafe(1 << 20);
    let used = 0;
    const lengths: number[] = [];
    const sources: string[] = [];
    const sizes: number[] = [];
    const paths: string[] = [];
    const room = (n: number) => {
      if (used + n <= headers.length) return;
      const grown = Buffer.allocUnsafe(Math.max(2 * headers.length, used + n));
      headers.copy(grown, 0, 0, used);
      headers = grown;
    };
    for (const entry of list) {
      signal?.throwIfAborted();
      const as = namesOf(entry);
      const hasBody = entry.type === 'file' && entry.size > 0;
      if (hasBody && entry.sourcePath === undefined) return undefined;
      room(BLOCK_SIZE);
      const header = writeHeader(entry, as, this.options, headers, used);
      if (typeof header === 'number') {
        used += header;
        lengths.push(header);
      } else {
        room(header.length);
        header.copy(headers, used);
        used += header.length;
        lengths.push(header.length);
      }
      sources.push(hasBody ? (entry.sourcePath as string) : '');
      sizes.push(hasBody ? entry.size : 0);
      paths.push(as.path);
    }
    const written = await write(
      fd,
      headers.subarray(0, used),
      Float64Array.from(lengths),
      sources,
      Float64Array.from(sizes),
    );
    if ('changed' in written) {
      const i = written.changed;
      throw changedWhileArchiving(paths[i] as string, written.got, sizes[i] as number);
    }
    return written;
  }
}

/** The archive as a byte Readable (backpressured: entries and bodies are pulled on demand). */
export function tarStream(
  entries: Iterable<TarWriterEntry> | AsyncIterable<TarWriterEntry>,
  options: TarWriterOptions = {},
): Readable {
  return Readable.from(generateTar(entries, options), { objectMode: false, highWaterMark: 64 * 1024 });
}
