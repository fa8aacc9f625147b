// The build-cache index: key → value (a layer descriptor, a snapshot name, the key's pre-image…),
// kept as append-only bucket files after npm/cacache's entry index.
//
//   <dir>/<hh>/<rest>   hh+rest = sha256 hex of the key; one bucket per key
//
// Each put appends one line "\n<sha256 hex of json>\t<json>" with
// json = {"key":…,"time":<ms since epoch>,"value":…}, or {"key":…,"time":…,"deleted":true} for
// a delete. The leading newline means a line torn by a crash cannot swallow the next one; on
// read, lines whose hash does not match (torn, interleaved, edited) are dropped. The last valid
// line wins. Appends take no lock: O_APPEND writes of one line do not interleave on local
// filesystems, and the hash catches anything that does. Nor are they fsynced (one fdatasync
// was ~1 ms of every step a build ran): a crash may lose the newest lines or tear one, which
// is a miss; an entry whose layer blob did not survive is a miss too (the engine checks the
// blob). A key is the hash of everything its result depends on, so no loss makes a wrong hit.
//
// compact() rewrites each bucket to its newest live entry (or removes it) under the index's
// lock, so compactions do not race each other. An append landing between compact's read and
// its rename is lost: for a cache that costs one miss, never a wrong hit.

import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { opendir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../digest/sha256.js';
import { BuilderError } from '../../errors.js';
import { errnoOf, readTextIfExists, writeFileAtomic } from './atomic-file.js';
import { type LockOptions, withFileLock } from './file-lock.js';
import type { JournalOf } from './read-journal.js';

export interface CacheEntry<T = unknown> {
  key: string;
  value: T;
  /** Milliseconds since the epoch when the entry was written. */
  time: number;
}

interface Line<T> {
  key: string;
  time: number;
  value?: T;
  deleted?: true;
}

export interface CacheIndexOptions {
  dir: string;
  tempDir: string;
  lockPath: string;
  lockOptions?: LockOptions;
  journal?: JournalOf;
}

export interface CompactResult {
  buckets: number;
  /** Lines removed: superseded, deleted, torn or filtered out. */
  droppedLines: number;
  /** Buckets left empty and removed. */
  removedBuckets: number;
}

function formatLine(json: string): string {
  return `\n${sha256Hex(json)}\t${json}`;
}

interface ParsedBucket<T> {
  lines: Line<T>[];
  /** Physical non-empty lines, valid or not. */
  rawLines: number;
}

function parseBucket<T>(text: string): ParsedBucket<T> {
  const lines: Line<T>[] = [];
  let rawLines = 0;
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    rawLines++;
    const tab = raw.indexOf('\t');
    if (tab !== 64) continue;
    const json = raw.slice(tab + 1);
    if (sha256Hex(json) !== raw.slice(0, tab)) continue;
    try {
      const line = JSON.parse(json) as Line<T>;
      if (typeof line?.key === 'string' && typeof line.time === 'number') lines.push(line);
    } catch {
      // hash matched but not JSON: written by something else; ignore
    }
  }
  return { lines, rawLines };
}

function newest<T>(lines: Line<T>[], key: string): CacheEntry<T> | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (line.key !== key) continue;
    if (line.deleted === true) return undefined;
    return { key, value: line.value as T, time: line.time };
  }
  return undefined;
}

export class FsCacheIndex<T = unknown> {
  readonly dir: string;
  readonly #options: CacheIndexOptions;

  constructor(options: CacheIndexOptions) {
    this.dir = options.dir;
    this.#options = options;
  }

  bucketPath(key: string): string {
    if (typeof key !== 'string' || key === '')
      throw new BuilderError('EINVAL', 'cache keys must be non-empty strings');
    const hex = sha256Hex(key);
    return join(this.dir, hex.slice(0, 2), hex.slice(2));
  }

  async #append(key: string, line: Line<T>): Promise<void> {
    const path = this.bucketPath(key);
    this.#options.journal?.()?.noteWrite(path);
    const text = Buffer.from(formatLine(JSON.stringify(line)));
    // On this thread: the awaited calls were thread-pool round trips that only went on when
    // this thread was free.
    let fd: number;
    try {
      fd = openSync(path, 'a', 0o644);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
      mkdirSync(join(path, '..'), { recursive: true });
      fd = openSync(path, 'a', 0o644);
    }
    try {
      writeFileSync(fd, text);
    } finally {
      closeSync(fd);
    }
  }

  /** Records `value` for `key` (newest wins). `value` must survive JSON.stringify. */
  async put(key: string, value: T, options: { time?: number } = {}): Promise<CacheEntry<T>> {
    if (value === undefined) throw new BuilderError('EINVAL', 'cache values cannot be undefined');
    const time = options.time ?? Date.now();
    await this.#append(key, { key, time, value });
    return { key, value, time };
  }

  async get(key: string): Promise<CacheEntry<T> | undefined> {
    const path = this.bucketPath(key);
    const text = await readTextIfExists(path);
    this.#options.journal?.()?.noteRead(path, text);
    return text === undefined ? undefined : newest(parseBucket<T>(text).lines, key);
  }

  /** Every valid entry for `key`, oldest first, deletions included as `deleted: true`. */
  async history(key: string): Promise<Array<CacheEntry<T> | { key: string; time: number; deleted: true }>> {
    const path = this.bucketPath(key);
    const text = await readTextIfExists(path);
    this.#options.journal?.()?.noteRead(path, text);
    if (text === undefined) return [];
    return parseBucket<T>(text)
      .lines.filter((l) => l.key === key)
      .map((l) =>
        l.deleted === true
          ? { key, time: l.time, deleted: true as const }
          : { key, value: l.value as T, time: l.time },
      );
  }

  /** Appends a deletion marker. */
  async delete(key: string): Promise<void> {
    await this.#append(key, { key, time: Date.now(), deleted: true });
  }

  async *#buckets(): AsyncIterable<string> {
    let top: Awaited<ReturnType<typeof opendir>>;
    try {
      top = await opendir(this.dir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw err;
    }
    for await (const prefix of top) {
      if (!prefix.isDirectory() || !/^[0-9a-f]{2}$/.test(prefix.name)) continue;
      let sub: Awaited<ReturnType<typeof opendir>>;
      try {
        sub = await opendir(join(this.dir, prefix.name));
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') continue;
        throw err;
      }
      for await (const bucket of sub) {
        if (bucket.isFile() && /^[0-9a-f]{62}$/.test(bucket.name))
          yield join(this.dir, prefix.name, bucket.name);
      }
    }
  }

  /** The newest live entry of every key, in no particular order. */
  async *entries(): AsyncIterable<CacheEntry<T>> {
    this.#options.journal?.()?.noteListing('the whole cache index');
    for await (const path of this.#buckets()) {
      const text = await readTextIfExists(path);
      if (text === undefined) continue;
      const { lines } = parseBucket<T>(text);
      for (const key of new Set(lines.map((l) => l.key))) {
        const entry = newest(lines, key);
        if (entry !== undefined) yield entry;
      }
    }
  }

  /**
   * Rewrites every bucket to its newest live entry; `keep` may drop entries too (e.g. those
   * older than a cutoff, or pointing at blobs GC removed).
   */
  async compact(
    options: { keep?: (entry: CacheEntry<T>) => boolean; signal?: AbortSignal } = {},
  ): Promise<CompactResult> {
    const lockOptions: LockOptions = { ...this.#options.lockOptions };
    if (options.signal !== undefined) lockOptions.signal = options.signal;
    this.#options.journal?.()?.noteListing('the whole cache index (compacting it)');
    return withFileLock(
      this.#options.lockPath,
      async () => {
        const result: CompactResult = { buckets: 0, droppedLines: 0, removedBuckets: 0 };
        for await (const path of this.#buckets()) {
          if (options.signal?.aborted) {
            throw new BuilderError('ECANCELED', 'compacting the cache index: canceled', {
              cause: options.signal.reason,
            });
          }
          const text = await readTextIfExists(path);
          if (text === undefined) continue;
          result.buckets++;
          const { lines, rawLines } = parseBucket<T>(text);
          const live: CacheEntry<T>[] = [];
          for (const key of new Set(lines.map((l) => l.key))) {
            const entry = newest(lines, key);
            if (entry !== undefined && (options.keep === undefined || options.keep(entry))) live.push(entry);
          }
          result.droppedLines += rawLines - live.length;
          if (live.length === 0) {
            await rm(path, { force: true });
            result.removedBuckets++;
          } else if (live.length !== rawLines) {
            const body = live
              .map((e) => formatLine(JSON.stringify({ key: e.key, time: e.time, value: e.value })))
              .join('');
            writeFileAtomic(path, body, { tempDir: this.#options.tempDir });
          }
        }
        return result;
      },
      lockOptions,
    );
  }
}
