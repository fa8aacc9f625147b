// Image names: `docker.io/library/ubuntu:latest` → the descriptor of its manifest or index
// (containerd's Image{Name, Target}). Tagging writes a record, rmi deletes one; blobs are only
// reclaimed by GC, which treats every name's target as a root.

import { BuilderError } from '../../errors.js';
import { toDescriptor } from '../../oci/parse.js';
import type { Descriptor } from '../../oci/types.js';
import type { LockOptions } from './file-lock.js';
import type { JournalOf } from './read-journal.js';
import { FsRecordStore, type StoredRecord } from './record-store.js';

export interface NameValue {
  target: Descriptor;
  /** When the name was first created (RFC 3339); kept across re-tags. */
  createdAt: string;
  labels?: Record<string, string>;
}

export interface NameRecord {
  name: string;
  target: Descriptor;
  createdAt: string;
  updatedAt: string;
  labels?: Record<string, string>;
}

function validateNameValue(value: unknown): NameValue {
  if (typeof value !== 'object' || value === null)
    throw new BuilderError('EINVAL', 'name record must be an object');
  const v = value as Record<string, unknown>;
  const target = toDescriptor(v.target, 'name target');
  if (typeof v.createdAt !== 'string') throw new BuilderError('EINVAL', 'name record needs createdAt');
  const out: NameValue = { target, createdAt: v.createdAt };
  if (v.labels !== undefined) {
    if (
      typeof v.labels !== 'object' ||
      v.labels === null ||
      Object.values(v.labels).some((x) => typeof x !== 'string')
    ) {
      throw new BuilderError('EINVAL', 'name record labels must map strings to strings');
    }
    out.labels = { ...(v.labels as Record<string, string>) };
  }
  return out;
}

function toNameRecord(rec: StoredRecord<NameValue>): NameRecord {
  const out: NameRecord = {
    name: rec.key,
    target: rec.value.target,
    createdAt: rec.value.createdAt,
    updatedAt: rec.updatedAt,
  };
  if (rec.value.labels !== undefined) out.labels = rec.value.labels;
  return out;
}

export interface NameStoreOptions {
  dir: string;
  tempDir: string;
  lockPath: string;
  lockOptions?: LockOptions;
  journal?: JournalOf;
}

export class NameStore {
  readonly #records: FsRecordStore<NameValue>;

  constructor(options: NameStoreOptions) {
    this.#records = new FsRecordStore<NameValue>({
      ...options,
      validate: validateNameValue,
      what: 'image name',
    });
  }

  /** The file that holds `name` (the build memo pins and rewrites it: cli/edit-replay.ts). */
  pathOf(name: string): string {
    return this.#records.pathOf(name);
  }

  async get(name: string): Promise<NameRecord | undefined> {
    const rec = await this.#records.get(name);
    return rec === undefined ? undefined : toNameRecord(rec);
  }

  /**
   * Points `name` at `target` (atomic replace; the last writer wins). Keeps the original
   * createdAt when the name existed. Use update() for compare-and-set.
   */
  async set(
    name: string,
    target: Descriptor,
    options: { labels?: Record<string, string> } = {},
  ): Promise<NameRecord> {
    const previous = await this.#records.get(name);
    const value: NameValue = { target, createdAt: previous?.value.createdAt ?? new Date().toISOString() };
    if (options.labels !== undefined) value.labels = options.labels;
    return toNameRecord(await this.#records.put(name, value));
  }

  async delete(name: string): Promise<boolean> {
    return this.#records.delete(name);
  }

  /** Every name; `dependency: false` as in FsRecordStore.list. */
  async list(options: { dependency?: boolean } = {}): Promise<NameRecord[]> {
    return (await this.#records.list(options)).map(toNameRecord);
  }

  /** Read-modify-write of one name under the names lock; return undefined to delete it. */
  async update(
    name: string,
    fn: (
      current: NameRecord | undefined,
    ) =>
      | { target: Descriptor; labels?: Record<string, string> }
      | undefined
      | Promise<{ target: Descriptor; labels?: Record<string, string> } | undefined>,
  ): Promise<NameRecord | undefined> {
    const rec = await this.#records.update(name, async (current) => {
      const next = await fn(current === undefined ? undefined : toNameRecord(current));
      if (next === undefined) return undefined;
      const value: NameValue = {
        target: next.target,
        createdAt: current?.value.createdAt ?? new Date().toISOString(),
      };
      if (next.labels !== undefined) value.labels = next.labels;
      return value;
    });
    return rec === undefined ? undefined : toNameRecord(rec);
  }
}
