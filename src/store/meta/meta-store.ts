// Mutable metadata of the image store: names, other small records, the build-cache index and
// locks. Blobs live in the content store; everything here points at them by digest.
//
// On-disk schema (format version in the path; a v2 would live beside v1 and migrate):
//
//   <root>/v1/
//     names/<escaped name>.json       one image name per file, replaced atomically:
//         {"v":1,"key":"docker.io/library/ubuntu:latest","updatedAt":"<RFC 3339>",
//          "value":{"target":<descriptor of the manifest or index>,"createdAt":"<RFC 3339>",
//                   "labels":{…}?}}
//     records/<kind>/<escaped key>.json   other mutable records, same envelope
//                                          {"v":1,"key":…,"updatedAt":…,"value":…}
//     cache-index/<hh>/<62 hex>        build-cache buckets, append-only lines
//         "\n<sha256 hex of json>\t<json>", json = {"key","time","value"} | {"key","time","deleted":true}
//     locks/<name>.lock                exclusive locks (O_EXCL file + heartbeat), e.g. names.lock
//                                      for read-modify-write of names, gc.lock for GC,
//                                      cache-index.lock for compaction
//     tmp/                             temp files of atomic writes (same filesystem)
//
// Escaped names: [a-z0-9._-] kept (no leading "."), any other UTF-8 byte as %XX uppercase;
// longer than 200 characters → "~<sha256 hex of the key>.json". The key inside is authoritative.
//
// Concurrency (several strata processes on one store):
// * A single record write is temp + fsync + rename + fsync(dir): readers see the old or the new
//   file, never a mix, and a crash leaves one of them. Two writers of one name: last wins.
// * Read-modify-write (update(), GC) holds a lock from locks/ (see file-lock.ts).
// * The cache index needs no lock to append (see cache-index.ts).

import { opendir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BuilderError } from '../../errors.js';
import { errnoOf } from './atomic-file.js';
import { FsCacheIndex } from './cache-index.js';
import { acquireFileLock, type FileLock, type LockOptions, withFileLock } from './file-lock.js';
import { NameStore } from './name-store.js';
import type { ReadJournal } from './read-journal.js';
import { FsRecordStore } from './record-store.js';

export const META_FORMAT_DIR = 'v1';
const LOCK_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,79}$/;
const KIND_RE = /^[a-z0-9][a-z0-9._-]{0,47}$/;

export interface FsMetaStoreOptions {
  /** Defaults for every lock taken through this store. */
  lockOptions?: LockOptions;
}

export class FsMetaStore {
  readonly root: string;
  /** `<root>/v1` */
  readonly dir: string;
  readonly names: NameStore;
  readonly cacheIndex: FsCacheIndex;
  readonly #lockOptions: LockOptions;
  /** While set, every record, name and cache-index file read or written is noted in it. */
  journal: ReadJournal | undefined;

  constructor(root: string, options: FsMetaStoreOptions = {}) {
    this.root = root;
    this.dir = join(root, META_FORMAT_DIR);
    this.#lockOptions = options.lockOptions ?? {};
    this.names = new NameStore({
      dir: join(this.dir, 'names'),
      tempDir: this.tempDir,
      lockPath: this.lockPath('names'),
      lockOptions: this.#lockOptions,
      journal: () => this.journal,
    });
    this.cacheIndex = new FsCacheIndex({
      dir: join(this.dir, 'cache-index'),
      tempDir: this.tempDir,
      lockPath: this.lockPath('cache-index'),
      lockOptions: this.#lockOptions,
      journal: () => this.journal,
    });
  }

  get tempDir(): string {
    return join(this.dir, 'tmp');
  }

  lockPath(name: string): string {
    if (!LOCK_NAME_RE.test(name))
      throw new BuilderError('EINVAL', `invalid lock name ${JSON.stringify(name)}`);
    return join(this.dir, 'locks', `${name}.lock`);
  }

  /** A store of JSON records of one kind under records/<kind>/, checked by `validate`. */
  records<T>(kind: string, validate: (value: unknown, key: string) => T): FsRecordStore<T> {
    if (!KIND_RE.test(kind)) throw new BuilderError('EINVAL', `invalid record kind ${JSON.stringify(kind)}`);
    return new FsRecordStore<T>({
      dir: join(this.dir, 'records', kind),
      tempDir: this.tempDir,
      lockPath: this.lockPath(`records-${kind}`),
      lockOptions: this.#lockOptions,
      validate,
      what: kind,
      journal: () => this.journal,
    });
  }

  acquireLock(name: string, options: LockOptions = {}): Promise<FileLock> {
    return acquireFileLock(this.lockPath(name), { ...this.#lockOptions, ...options });
  }

  /** Runs `fn` holding locks/<name>.lock (e.g. "gc"). Not reentrant. */
  withLock<T>(name: string, fn: (lock: FileLock) => Promise<T>, options: LockOptions = {}): Promise<T> {
    return withFileLock(this.lockPath(name), fn, { ...this.#lockOptions, ...options });
  }

  /** Removes temp files of atomic writes abandoned by crashed processes. */
  async cleanTemp(options: { olderThanMs?: number } = {}): Promise<number> {
    const olderThanMs = options.olderThanMs ?? 60 * 60 * 1000;
    let dir: Awaited<ReturnType<typeof opendir>>;
    try {
      dir = await opendir(this.tempDir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return 0;
      throw err;
    }
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for await (const entry of dir) {
      const path = join(this.tempDir, entry.name);
      try {
        const st = await stat(path);
        if (olderThanMs > 0 && st.mtimeMs > cutoff) continue;
        await rm(path, { force: true });
        removed++;
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    }
    return removed;
  }
}
