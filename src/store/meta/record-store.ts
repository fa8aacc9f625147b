// A directory of small mutable JSON records, one file per key, each replaced atomically
// (temp + fsync + rename + fsync dir). Concurrent writers of one key: last rename wins, and
// every reader sees one whole version. Read-modify-write goes through update(), which holds
// the store's lock.
//
// File: <dir>/<escaped key>.json = {"v":1,"key":"…","updatedAt":"<RFC 3339>","value":…}
// Key escaping keeps [a-z0-9._-] (no leading "."), writes every other UTF-8 byte as %XX
// (uppercase hex, so "A" and "a" never collide on case-insensitive filesystems); an escaped
// key longer than 200 characters is stored as "~<sha256 hex of the key>.json". The key inside
// the file is authoritative.

import { type Dirent, readdirSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../digest/sha256.js';
import { BuilderError, isBuilderError } from '../../errors.js';
import { errnoOf, readTextIfExists, writeFileAtomic } from './atomic-file.js';
import { type LockOptions, withFileLock } from './file-lock.js';
import type { JournalOf } from './read-journal.js';

export const RECORD_FORMAT_VERSION = 1;
const MAX_ESCAPED_KEY = 200;
const KEEP = /^[a-z0-9._-]$/;

export interface StoredRecord<T> {
  key: string;
  value: T;
  /** RFC 3339 */
  updatedAt: string;
}

/** The file name (without directory) for a record key. */
export function escapeRecordKey(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out +=
      KEEP.test(ch) && !(out === '' && ch === '.')
        ? ch
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length > MAX_ESCAPED_KEY) return `~${sha256Hex(key)}.json`;
  return `${out}.json`;
}

export interface RecordStoreOptions<T> {
  dir: string;
  /** Temp files for atomic writes (same filesystem). */
  tempDir: string;
  /** Lock file used by update(). */
  lockPath: string;
  lockOptions?: LockOptions;
  /** Checks a decoded value; throws to reject. */
  validate: (value: unknown, key: string) => T;
  /** Names the records in messages, e.g. "image name". */
  what: string;
  journal?: JournalOf;
}

export class FsRecordStore<T> {
  readonly dir: string;
  readonly #options: RecordStoreOptions<T>;

  constructor(options: RecordStoreOptions<T>) {
    this.dir = options.dir;
    this.#options = options;
  }

  #checkKey(key: string): void {
    if (typeof key !== 'string' || key === '' || key.includes('\0')) {
      throw new BuilderError('EINVAL', `invalid ${this.#options.what} ${JSON.stringify(key)}`);
    }
  }

  #decode(text: string, file: string, expectedKey?: string): StoredRecord<T> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new BuilderError('EINTERNAL', `corrupt ${this.#options.what} record ${file}: not JSON`, {
        cause: err,
      });
    }
    const rec = parsed as { v?: unknown; key?: unknown; updatedAt?: unknown; value?: unknown } | null;
    if (
      rec === null ||
      typeof rec !== 'object' ||
      rec.v !== RECORD_FORMAT_VERSION ||
      typeof rec.key !== 'string'
    ) {
      throw new BuilderError('EINTERNAL', `corrupt ${this.#options.what} record ${file}: unexpected format`);
    }
    if (expectedKey !== undefined && rec.key !== expectedKey) {
      throw new BuilderError(
        'EINTERNAL',
        `corrupt ${this.#options.what} record ${file}: holds ${JSON.stringify(rec.key)}`,
      );
    }
    let value: T;
    try {
      value = this.#options.validate(rec.value, rec.key);
    } catch (err) {
      throw new BuilderError(
        'EINTERNAL',
        `corrupt ${this.#options.what} record ${file}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return { key: rec.key, value, updatedAt: typeof rec.updatedAt === 'string' ? rec.updatedAt : '' };
  }

  pathOf(key: string): string {
    this.#checkKey(key);
    return join(this.dir, escapeRecordKey(key));
  }

  async get(key: string): Promise<StoredRecord<T> | undefined> {
    const path = this.pathOf(key);
    const text = await readTextIfExists(path);
    this.#options.journal?.()?.noteRead(path, text);
    return text === undefined ? undefined : this.#decode(text, path, key);
  }

  async put(key: string, value: T): Promise<StoredRecord<T>> {
    const path = this.pathOf(key);
    let checked: T;
    try {
      checked = this.#options.validate(value, key);
    } catch (err) {
      if (isBuilderError(err)) throw err;
      throw new BuilderError(
        'EINVAL',
        `invalid ${this.#options.what} ${JSON.stringify(key)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const record: StoredRecord<T> = { key, value: checked, updatedAt: new Date().toISOString() };
    const body = JSON.stringify({
      v: RECORD_FORMAT_VERSION,
      key,
      updatedAt: record.updatedAt,
      value: checked,
    });
    this.#options.journal?.()?.noteWrite(path);
    // Synchronously: whoever puts a record waits for it (writeFileAtomic says why).
    writeFileAtomic(path, body, { tempDir: this.#options.tempDir });
    return record;
  }

  async delete(key: string): Promise<boolean> {
    this.#options.journal?.()?.noteWrite(this.pathOf(key));
    try {
      await unlink(this.pathOf(key));
      return true;
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return false;
      throw err;
    }
  }

  /** Every record, sorted by key. `dependency: false`: what the caller decides does not
   * depend on the listing (it only labels something already chosen), so no journal notes it. */
  async list(options: { dependency?: boolean } = {}): Promise<StoredRecord<T>[]> {
    const out: StoredRecord<T>[] = [];
    if (options.dependency !== false)
      this.#options.journal?.()?.noteListing(`every ${this.#options.what} record`);
    // Read synchronously, as readTextIfExists reads one record: small files in the page cache.
    let entries: Dirent[];
    try {
      entries = readdirSync(this.dir, { withFileTypes: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return out;
      throw err;
    }
    for (const entry of entries) {
      if (!entry.isFile() || !entry.name.endsWith('.json') || entry.name.startsWith('.')) continue;
      const path = join(this.dir, entry.name);
      const text = await readTextIfExists(path);
      if (text === undefined) continue; // deleted meanwhile
      out.push(this.#decode(text, path));
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Read-modify-write under the store's lock. `fn` gets the current record (or undefined) and
   * returns the new value, or `undefined` to delete the record. Returns the new record.
   */
  async update(
    key: string,
    fn: (current: StoredRecord<T> | undefined) => T | undefined | Promise<T | undefined>,
  ): Promise<StoredRecord<T> | undefined> {
    this.#checkKey(key);
    return withFileLock(
      this.#options.lockPath,
      async () => {
        const current = await this.get(key);
        const next = await fn(current);
        if (next === undefined) {
          await this.delete(key);
          return undefined;
        }
        return this.put(key, next);
      },
      this.#options.lockOptions ?? {},
    );
  }
}
