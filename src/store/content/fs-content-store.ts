// The content store on disk, after containerd's local store and OCI image layout:
//
//   <root>/blobs/<algorithm>/<hex>   committed blobs, read-only (0444), complete and verified
//   <root>/ingest/<pid>-<random>     blobs being written; never read by anyone else
//
// Ingest: open a temp file with O_EXCL ("wx"), hash while writing, check the expected size and
// digest, fsync, chmod 0444, then hard-link it to its final name (link fails with EEXIST
// instead of replacing, so exactly one concurrent writer "creates" a blob and an existing blob
// is never rewritten), fsync the directory, and remove the temp name. On filesystems without
// hard links we fall back to rename, which is just as atomic (an identical blob may replace
// itself). Writers in different processes never share a temp file, so no locks are needed.
// A crash leaves at most a temp file under ingest/, removed later by cleanIngest().
//
// Writing a blob that is already there refreshes its mtime (BlobInfo.createdAt): GC spares blobs
// younger than its grace period, so a blob a build or a load has just (re-)written survives a
// concurrent prune until the image or cache entry that needs it is recorded.

import {
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { lstat, open, opendir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { addAbortSignal, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DIRECT_ALIGN, isAlignedBlock, releaseBlock } from '../../archive/block-pool.js';
import {
  DIGEST_ALGORITHMS,
  type Digest,
  digestAlgorithm,
  digestHex,
  digestOf,
  isDigest,
  isDigestAlgorithm,
  parseDigest,
} from '../../digest/digest.js';
import { HashTap } from '../../digest/hash-tap.js';
import { verifyStream } from '../../digest/verify-stream.js';
import { BuilderError, DigestMismatchError } from '../../errors.js';
import { type DirectIo, directIo, randomHex } from '../../sys/index.js';
import {
  type BlobInfo,
  type BlobSource,
  type ContentStore,
  DEFAULT_INGEST_MAX_AGE_MS,
  DEFAULT_READ_BYTES_MAX,
  type FileWritable,
  type ReadBytesOptions,
  type ReadOptions,
  type WriteOptions,
  type WriteResult,
} from './content-store.js';
import { checkExpectedSize, notFound, sizeMismatch, storeError } from './errors.js';
import { pooledSha256 } from './pooled-hasher.js';

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV']);

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Writes all of `chunk`: at the file's current offset, or at `position` (pwrite), where a
 * write that failed can be made again in the same place.
 */
async function writeAll(fh: FileHandle, chunk: Uint8Array, position?: number): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) {
    const at = position === undefined ? null : position + offset;
    const { bytesWritten } = await fh.write(chunk, offset, chunk.byteLength - offset, at);
    offset += bytesWritten;
  }
}

/** Blobs up to this size are read synchronously by readBytes. */
const SMALL_BLOB = 256 * 1024;

/**
 * Chunks are written in batches of about this many bytes: a layer tar arrives as a header and
 * a body per file (5,000 small files: 10,000 chunks), and each awaited write is a thread-pool
 * round trip (~50 µs here).
 */
const WRITE_BATCH = 1 << 20;

/** Writes `chunks` as one writev (no copy into one buffer), then whatever a short write left. */
async function writeGathered(fh: FileHandle, chunks: Uint8Array[], bytes: number): Promise<void> {
  if (chunks.length === 1) return writeAll(fh, chunks[0] as Uint8Array);
  const { bytesWritten } = await fh.writev(chunks);
  if (bytesWritten < bytes) await writeAll(fh, Buffer.concat(chunks, bytes).subarray(bytesWritten));
}

/**
 * Writes every chunk of `chunks` to `fh`, small ones gathered into one writev. One batch is
 * written while the next is gathered: the source (a layer tar read from files on this
 * thread) does not wait for the disk write of the batch before, and the writes stay in order.
 */
async function writeBuffered(fh: FileHandle, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  let batch: Uint8Array[] = [];
  let bytes = 0;
  let inFlight: Promise<void> = Promise.resolve();
  const flush = async () => {
    if (batch.length === 0) return;
    const [gathered, size] = [batch, bytes];
    batch = [];
    bytes = 0;
    await inFlight;
    inFlight = writeGathered(fh, gathered, size).then(() => {
      for (const chunk of gathered) releaseBlock(chunk);
    });
    // Seen by the next flush or the end; a failure must not go unhandled meanwhile.
    inFlight.catch(() => {});
  };
  try {
    for await (const chunk of chunks) {
      batch.push(chunk);
      bytes += chunk.byteLength;
      if (bytes >= WRITE_BATCH) await flush();
    }
    await flush();
  } catch (err) {
    await inFlight.catch(() => {});
    throw err;
  }
  await inFlight;
}

/** Bytes per O_DIRECT write: a multiple of any device's block size. */
const DIRECT_CHUNK = 4 << 20;

/**
 * Writes `chunks` to `fh`: through the page cache (writeBuffered) without the native addon,
 * else large blobs with O_DIRECT. On these machines a buffered write of data the page cache
 * has not held before ran at ~310 MB/s (the fresh pages are slow to come by), O_DIRECT at
 * 1.5-1.8 GB/s: a 218 MB layer took 0.62 s of writes. The chunks are copied into one of two
 * aligned 4 MiB buffers; a full one is written with O_DIRECT while the other fills. What is
 * left at the end (less than 4 MiB: all of a small blob) goes through the page cache, and a
 * filesystem without direct I/O (EINVAL) gets ordinary writes of the same buffers.
 */
async function writeBatched(
  fh: FileHandle,
  chunks: AsyncIterable<Uint8Array>,
  io: DirectIo | undefined,
): Promise<void> {
  if (io === undefined) return writeBuffered(fh, chunks);
  const idle = idleStages.get(io) ?? [];
  idleStages.set(io, idle);
  const stages = idle.pop() ?? [
    io.alignedBuffer(DIRECT_CHUNK, DIRECT_ALIGN),
    io.alignedBuffer(DIRECT_CHUNK, DIRECT_ALIGN),
  ];
  let current = 0;
  let used = 0;
  let position = 0;
  let direct: boolean | undefined; // undefined: not tried yet
  /** Writes not yet done, oldest first. */
  const inFlight: Promise<void>[] = [];
  /** Every write done (all of them, even after a failure), then the first failure thrown. */
  const settled = async () => {
    const failed = (await Promise.allSettled(inFlight.splice(0))).find((r) => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  };
  const buffered = () => {
    if (direct === true) io.setDirect(fh.fd, false);
    direct = false;
  };
  /**
   * Writes `chunk` at the next position, with O_DIRECT when it works, once fewer than `depth`
   * writes are in flight (the caller may fill another buffer meanwhile). `then` runs once written.
   */
  const writeNext = async (chunk: Uint8Array, depth: number, then?: () => void) => {
    const at = position;
    position += chunk.byteLength;
    while (inFlight.length >= depth) await inFlight.shift();
    if (direct === undefined) {
      try {
        io.setDirect(fh.fd, true);
        direct = true;
      } catch {
        direct = false;
      }
    }
    const written = writeAll(fh, chunk, at).catch((err: unknown) => {
      // A filesystem can take the flag and still refuse the write: the page cache then.
      if (direct !== true || errno(err) !== 'EINVAL') throw err;
      buffered();
      return writeAll(fh, chunk, at);
    });
    const done = then === undefined ? written : written.finally(then);
    done.catch(() => {});
    inFlight.push(done);
  };
  const writeFull = async () => {
    // Depth 1: every write before is done, the other buffer's too: it may be filled next.
    await writeNext(stages[current] as Buffer, 1);
    current ^= 1;
    used = 0;
  };
  /**
   * A tar block that is aligned memory (block-pool.ts) is written as it is, no copy, with one
   * more write in flight: the tar writer fills a block in about the time one takes (~1 ms), and
   * a second one queued keeps the disk busy when a block comes late.
   */
  const writeBlock = (chunk: Uint8Array) => writeNext(chunk, 2, () => releaseBlock(chunk));
  try {
    for await (const chunk of chunks) {
      if (
        used === 0 &&
        direct !== false &&
        position % DIRECT_ALIGN === 0 &&
        chunk.byteLength > 0 &&
        chunk.byteLength % DIRECT_ALIGN === 0 &&
        isAlignedBlock(chunk)
      ) {
        await writeBlock(chunk);
        continue;
      }
      for (let offset = 0; offset < chunk.byteLength; ) {
        const n = Math.min(chunk.byteLength - offset, DIRECT_CHUNK - used);
        (stages[current] as Buffer).set(chunk.subarray(offset, offset + n), used);
        used += n;
        offset += n;
        if (used === DIRECT_CHUNK) await writeFull();
      }
      // Copied: a recycled tar block can go back (block-pool.ts).
      releaseBlock(chunk);
    }
    await settled();
    buffered();
    if (used > 0) await writeAll(fh, (stages[current] as Buffer).subarray(0, used), position);
  } catch (err) {
    await settled().catch(() => {});
    throw err;
  } finally {
    // Kept for the next blob: fresh memory is what is slow here. Nothing writes them now.
    if (idle.length < 2) idle.push(stages);
  }
}

function isFileWritable(source: BlobSource): source is BlobSource & FileWritable {
  return typeof (source as Partial<FileWritable>).writeToFile === 'function';
}

/** A Node stream (pipeline tears it down on abort), not a plain (async) iterable of chunks. */
function isStream(source: BlobSource): source is Readable {
  return typeof (source as Readable).pipe === 'function';
}

/** Hashes a new blob on a worker where the addon can (pooled-hasher.ts), else in line. */
function newBlobTap(expectedSize: number | undefined): HashTap {
  const hasher = pooledSha256();
  return new HashTap({
    ...(expectedSize === undefined ? {} : { maxSize: expectedSize }),
    ...(hasher === undefined ? {} : { hasher }),
  });
}

/** Staging buffer pairs not in use, by the DirectIo that made them (at most two pairs each). */
const idleStages = new WeakMap<DirectIo, Buffer[][]>();

/** fsync a directory so a rename/link/unlink in it survives a crash. */
export function fsyncDirectorySync(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } catch (err) {
    // Some filesystems refuse fsync on directories; the entry is then as durable as they allow.
    if (errno(err) !== 'EINVAL' && errno(err) !== 'EISDIR') throw err;
  } finally {
    closeSync(fd);
  }
}

function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

export class FsContentStore implements ContentStore {
  readonly root: string;
  /** blobs/sha256 and ingest/ were made (or found) by this instance. */
  #dirsMade = false;

  readonly #directIo: () => DirectIo | undefined;

  /**
   * No I/O happens until the first write; reads of a missing root find nothing. `directIo`:
   * what O_DIRECT writes use (default: the native addon's; null writes through the page cache).
   */
  constructor(root: string, options: { directIo?: DirectIo | null } = {}) {
    this.root = root;
    const given = options.directIo;
    this.#directIo = given === undefined ? directIo : () => given ?? undefined;
  }

  /** Where a committed blob lives. Re-validates the digest so no cast string escapes the root. */
  blobPath(digest: Digest): string {
    if (!isDigest(digest)) throw new BuilderError('EINVAL', `invalid digest ${JSON.stringify(digest)}`);
    return join(this.root, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  get ingestDir(): string {
    return join(this.root, 'ingest');
  }

  /** Synchronously: two mkdirs that find the folders there, where each awaited recursive
   * mkdir was several thread-pool round trips. */
  #makeDirs(): void {
    mkdirSync(join(this.root, 'blobs', 'sha256'), { recursive: true });
    mkdirSync(this.ingestDir, { recursive: true });
    this.#dirsMade = true;
  }

  /** A new ingest file, opened by `open` (sync or not); the folders are made first, and again
   * when they were removed under us (ENOENT). */
  async #openTemp<T>(open: (temp: string) => T | Promise<T>): Promise<{ temp: string; file: T }> {
    if (!this.#dirsMade) this.#makeDirs();
    const temp = join(this.ingestDir, `${process.pid}-${randomHex(8)}`);
    try {
      return { temp, file: await open(temp) };
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
      this.#makeDirs();
      return { temp, file: await open(temp) };
    }
  }

  // has() and stat() ask synchronously: a build asks for each layer it reuses, and a stat is
  // a few µs where the awaited one was a thread-pool round trip.
  async has(digest: Digest): Promise<boolean> {
    return this.#exists(digest);
  }

  #exists(digest: Digest): boolean {
    try {
      return statSync(this.blobPath(digest)).isFile();
    } catch (err) {
      if (errno(err) === 'ENOENT') return false;
      throw err;
    }
  }

  async stat(digest: Digest): Promise<BlobInfo> {
    const path = this.blobPath(digest);
    try {
      const st = statSync(path);
      return { digest, size: st.size, createdAt: st.mtime };
    } catch (err) {
      if (errno(err) === 'ENOENT') throw notFound(`blob ${digest}`, err);
      throw err;
    }
  }

  async open(digest: Digest, options: ReadOptions = {}): Promise<Readable> {
    options.signal?.throwIfAborted();
    let fh: FileHandle;
    try {
      fh = await open(this.blobPath(digest), 'r');
    } catch (err) {
      if (errno(err) === 'ENOENT') throw notFound(`blob ${digest}`, err);
      throw err;
    }
    const stream = fh.createReadStream();
    return options.signal === undefined ? stream : addAbortSignal(options.signal, stream);
  }

  async readBytes(digest: Digest, options: ReadBytesOptions = {}): Promise<Uint8Array> {
    const maxSize = options.maxSize ?? DEFAULT_READ_BYTES_MAX;
    const info = await this.stat(digest);
    if (info.size > maxSize) {
      throw new BuilderError(
        'EINVAL',
        `blob ${digest} is ${info.size} bytes, more than the ${maxSize} allowed here`,
      );
    }
    let bytes: Buffer;
    try {
      // Manifests and configs are a few KiB: one synchronous read instead of four thread-pool
      // round trips (fs.promises.readFile: open, fstat, read, close).
      bytes =
        info.size <= SMALL_BLOB
          ? readFileSync(this.blobPath(digest))
          : await readFile(
              this.blobPath(digest),
              options.signal === undefined ? {} : { signal: options.signal },
            );
    } catch (err) {
      if (errno(err) === 'ENOENT') throw notFound(`blob ${digest}`, err);
      throw storeError(err, `reading blob ${digest}`);
    }
    const actual = digestOf(bytes, digestAlgorithm(digest));
    if (actual !== digest)
      throw new DigestMismatchError(digest, actual, `stored blob ${digest} (corrupt store?)`);
    return bytes;
  }

  async write(source: BlobSource, options: WriteOptions = {}): Promise<WriteResult> {
    const { expectedDigest, expectedSize, signal } = options;
    checkExpectedSize(expectedSize);
    if (expectedDigest !== undefined) this.blobPath(expectedDigest); // validates
    const what = expectedDigest === undefined ? 'blob' : `blob ${expectedDigest}`;
    const pipelineOptions = signal === undefined ? {} : { signal };

    if (expectedDigest !== undefined && (await this.has(expectedDigest))) {
      // Already committed: still read and verify the source so a wrong one fails, but store nothing.
      const verifier = verifyStream(expectedDigest, expectedSize, { what });
      try {
        await pipeline(source, verifier, discard(), pipelineOptions);
      } catch (err) {
        throw storeError(err, `writing ${what}`);
      }
      this.#touch(expectedDigest);
      return { digest: expectedDigest, size: verifier.bytes, created: false };
    }

    // A small source that can give its bytes (a one-file COPY's layer) is written as one.
    const small =
      expectedDigest === undefined && isFileWritable(source) ? source.inMemory?.(SMALL_BLOB) : undefined;
    if (small !== undefined)
      return this.writeBytes(small, {
        ...(expectedSize === undefined ? {} : { expectedSize }),
        ...(options.deferDirSync === true ? { deferDirSync: true } : {}),
      });
    const { temp, file: fh } = await this.#openTemp((t) => open(t, 'wx', 0o600));
    let open_ = true;
    try {
      // A source that writes itself (a layer tar, by the addon) reports what it wrote and hashed.
      const itself =
        expectedDigest === undefined && isFileWritable(source) ? await source.writeToFile(fh.fd) : undefined;
      let written: { digest: Digest; size: number };
      if (itself !== undefined) {
        written = { digest: parseDigest(`sha256:${itself.digest}`), size: itself.size };
      } else {
        const tap =
          expectedDigest === undefined
            ? newBlobTap(expectedSize)
            : verifyStream(expectedDigest, expectedSize, { what });
        if (isStream(source)) {
          await pipeline(
            source,
            tap,
            (chunks: AsyncIterable<Uint8Array>) => writeBatched(fh, chunks, this.#directIo()),
            pipelineOptions,
          );
        } else {
          // Our own producers (the tar writer's generator): no stream between them and the disk.
          await writeBatched(fh, tap.through(source, signal), this.#directIo());
        }
        written = { digest: tap.digest(), size: tap.bytes };
      }
      if (expectedSize !== undefined && written.size !== expectedSize)
        throw sizeMismatch(what, written.size, expectedSize);
      await fh.sync();
      await fh.chmod(0o444);
      open_ = false;
      await fh.close();
      const created = this.#commit(temp, written.digest, options.deferDirSync === true);
      return { ...written, created };
    } catch (err) {
      throw storeError(err, `writing ${what}`);
    } finally {
      if (open_) await fh.close().catch(() => {});
      await rm(temp, { force: true }).catch(() => {});
    }
  }

  async writeBytes(bytes: Uint8Array, options: WriteOptions = {}): Promise<WriteResult> {
    const { expectedDigest, expectedSize, signal } = options;
    if (bytes.byteLength > SMALL_BLOB || signal?.aborted) return this.write([bytes], options);
    checkExpectedSize(expectedSize);
    if (expectedDigest !== undefined) this.blobPath(expectedDigest); // validates
    const algorithm = expectedDigest === undefined ? 'sha256' : digestAlgorithm(expectedDigest);
    const digest = digestOf(bytes, algorithm);
    // Anything that does not match is left to write(), which says how, as for any source.
    if (
      (expectedDigest !== undefined && digest !== expectedDigest) ||
      (expectedSize !== undefined && bytes.byteLength !== expectedSize)
    )
      return this.write([bytes], options);
    try {
      const created = await this.#writeSmall(bytes, digest, options.deferDirSync === true);
      return { digest, size: bytes.byteLength, created };
    } catch (err) {
      throw storeError(err, `writing blob ${digest}`);
    }
  }

  /**
   * write()'s steps for a blob already hashed and in memory (a config, a manifest), on this
   * thread: through the thread pool each step was a round trip (~12 for a few KiB). True when
   * the blob is new.
   */
  async #writeSmall(bytes: Uint8Array, digest: Digest, deferDirSync: boolean): Promise<boolean> {
    const { temp, file: fd } = await this.#openTemp((t) => openSync(t, 'wx', 0o600));
    try {
      try {
        writeFileSync(fd, bytes);
        fsyncSync(fd);
        fchmodSync(fd, 0o444);
      } finally {
        closeSync(fd);
      }
      return this.#commit(temp, digest, deferDirSync);
    } finally {
      try {
        unlinkSync(temp);
      } catch {
        // renamed, or never made
      }
    }
  }

  /** Directories whose new entries wait for syncNames() (deferDirSync). */
  readonly #pendingDirs = new Set<string>();

  #syncDir(dir: string, defer: boolean): void {
    if (defer) this.#pendingDirs.add(dir);
    else fsyncDirectorySync(dir);
  }

  /** A blob found there may be one this process wrote deferred: durable now if asked so. */
  #syncExisting(dir: string, defer: boolean): void {
    if (!defer && this.#pendingDirs.has(dir)) {
      fsyncDirectorySync(dir);
      this.#pendingDirs.delete(dir);
    }
  }

  async syncNames(): Promise<void> {
    // The sha256 directory always: a blob found there already (EEXIST) may be another
    // process's, written deferred and not synced yet.
    for (const dir of new Set([join(this.root, 'blobs', 'sha256'), ...this.#pendingDirs])) {
      try {
        fsyncDirectorySync(dir);
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err; // no blob was ever written there
      }
      this.#pendingDirs.delete(dir);
    }
  }

  /**
   * The synced ingest file `temp` becomes the blob: a link (a rename where the filesystem has
   * none). False when the blob was there already (its GC age refreshed). A few system calls,
   * made synchronously.
   */
  #commit(temp: string, digest: Digest, deferDirSync: boolean): boolean {
    const final = this.blobPath(digest);
    const dir = dirname(final);
    if (digestAlgorithm(digest) !== 'sha256') mkdirSync(dir, { recursive: true });
    try {
      linkSync(temp, final);
    } catch (err) {
      const code = errno(err) ?? '';
      if (code !== 'EEXIST' && !NO_HARD_LINKS.has(code)) throw err;
      if (code === 'EEXIST' || this.#exists(digest)) {
        this.#touch(digest);
        this.#syncExisting(dir, deferDirSync);
        return false;
      }
      renameSync(temp, final);
    }
    this.#syncDir(dir, deferDirSync);
    return true;
  }

  /** Refreshes an existing blob's mtime (its GC age); best effort. */
  #touch(digest: Digest): void {
    const now = new Date();
    try {
      utimesSync(this.blobPath(digest), now, now);
    } catch {
      // best effort
    }
  }

  async delete(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.blobPath(digest));
      return true;
    } catch (err) {
      if (errno(err) === 'ENOENT') return false;
      throw err;
    }
  }

  async *walk(): AsyncIterable<BlobInfo> {
    for (const algorithm of Object.keys(DIGEST_ALGORITHMS)) {
      if (!isDigestAlgorithm(algorithm)) continue;
      let dir: Awaited<ReturnType<typeof opendir>>;
      try {
        dir = await opendir(join(this.root, 'blobs', algorithm));
      } catch (err) {
        if (errno(err) === 'ENOENT') continue;
        throw err;
      }
      for await (const entry of dir) {
        const candidate = `${algorithm}:${entry.name}`;
        if (!entry.isFile() || !isDigest(candidate)) continue;
        try {
          const st = await stat(join(dir.path, entry.name));
          yield { digest: candidate, size: st.size, createdAt: st.mtime };
        } catch (err) {
          if (errno(err) !== 'ENOENT') throw err; // deleted meanwhile
        }
      }
    }
  }

  async cleanIngest(options: { olderThanMs?: number } = {}): Promise<number> {
    const olderThanMs = options.olderThanMs ?? DEFAULT_INGEST_MAX_AGE_MS;
    let names: string[];
    try {
      const dir = await opendir(this.ingestDir);
      names = [];
      for await (const entry of dir) names.push(entry.name);
    } catch (err) {
      if (errno(err) === 'ENOENT') return 0;
      throw err;
    }
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of names) {
      const path = join(this.ingestDir, name);
      try {
        const st = await lstat(path);
        if (olderThanMs > 0 && st.mtimeMs > cutoff) continue;
        await rm(path, { force: true, recursive: true });
        removed++;
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
      }
    }
    return removed;
  }
}
