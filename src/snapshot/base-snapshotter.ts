// What both snapshotters share: the records (metadata/<sha256(name)>.json), ids and
// directories, the lifecycle rules (active → committed, parents must be committed, no
// removal of a parent) and crash cleanup. Subclasses say how a snapshot is populated,
// presented (mounts) and diffed.

import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { lstat, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../digest/sha256.js';
import { BuilderError } from '../errors.js';
import { isErrno, randomHex, readMountInfo } from '../sys/index.js';
import type {
  Change,
  ChangeOptions,
  CleanupOptions,
  CommitOptions,
  Mount,
  PrepareOptions,
  SnapshotInfo,
  SnapshotKind,
  Snapshotter,
  Usage,
} from './types.js';

/** The record stored per key or name. `v` versions the format. */
export interface SnapshotRecord {
  v: 1;
  id: string;
  name: string;
  kind: SnapshotKind;
  parents: string[];
  labels: Record<string, string>;
  createdAt: string;
  committedAt?: string;
  /** Written with syncs skipped (overlay's volatile option). */
  volatile?: true;
  /**
   * The boot (kernel boot_id) in which this snapshot was written volatile: in another boot its
   * bytes may never have reached the disk, so it is discarded (see readRecord).
   */
  boot?: string;
  /** Prepared direct (PrepareOptions): written in place, never mounted. */
  direct?: true;
}

const RECORD_VERSION = 1;

function checkName(what: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 4096 || name.includes('\0')) {
    throw new BuilderError('EINVAL', `invalid snapshot ${what}: ${JSON.stringify(name)}`);
  }
}

function isRecord(value: unknown): value is SnapshotRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<SnapshotRecord>;
  return (
    r.v === RECORD_VERSION &&
    typeof r.id === 'string' &&
    /^[0-9a-f]+$/.test(r.id) &&
    typeof r.name === 'string' &&
    (r.kind === 'active' || r.kind === 'view' || r.kind === 'committed') &&
    Array.isArray(r.parents) &&
    r.parents.every((p) => typeof p === 'string') &&
    typeof r.labels === 'object' &&
    r.labels !== null &&
    typeof r.createdAt === 'string' &&
    (r.volatile === undefined || r.volatile === true) &&
    (r.boot === undefined || typeof r.boot === 'string') &&
    (r.direct === undefined || r.direct === true)
  );
}

let currentBoot: string | undefined;

/** This boot's id (random per boot); '' where the kernel does not say. */
export function bootId(): string {
  if (currentBoot === undefined) {
    try {
      currentBoot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      currentBoot = '';
    }
  }
  return currentBoot;
}

/** A snapshot written volatile in an earlier boot (a crash may have lost its bytes). */
function fromEarlierBoot(record: SnapshotRecord): boolean {
  return record.boot !== undefined && record.boot !== bootId();
}

export abstract class BaseSnapshotter implements Snapshotter {
  abstract readonly kind: 'overlay' | 'copy';
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  // ---- what subclasses provide -------------------------------------------------------

  /** Fills snapshots/<id> for a new active snapshot or view (fs/, and work/ for overlay). */
  protected abstract populate(
    dir: string,
    stack: SnapshotRecord[],
    kind: 'active' | 'view',
    direct: boolean,
  ): Promise<void>;
  /** The mounts presenting an active snapshot or view. */
  protected abstract mountsOf(record: SnapshotRecord, stack: SnapshotRecord[]): Mount[];
  protected abstract changesOf(
    record: SnapshotRecord,
    stack: SnapshotRecord[],
    options: ChangeOptions,
  ): Promise<Change[]>;
  /** Whether writes to an active snapshot can skip syncing (overlay's volatile option). */
  protected supportsVolatile(): boolean {
    return false;
  }
  /** Called once the committed record is in place: drop what only an active snapshot needs. */
  protected abstract afterCommit(dir: string): Promise<void>;

  // ---- paths ------------------------------------------------------------------------------

  protected snapshotDir(id: string): string {
    return join(this.root, 'snapshots', id);
  }

  protected fsDir(id: string): string {
    return join(this.root, 'snapshots', id, 'fs');
  }

  private recordPath(name: string): string {
    return join(this.root, 'metadata', `${sha256Hex(name)}.json`);
  }

  protected info(record: SnapshotRecord): SnapshotInfo {
    const info: SnapshotInfo = {
      name: record.name,
      kind: record.kind,
      parents: [...record.parents],
      dir: this.fsDir(record.id),
      id: record.id,
      labels: { ...record.labels },
      createdAt: record.createdAt,
    };
    if (record.committedAt !== undefined) info.committedAt = record.committedAt;
    return info;
  }

  // ---- records ------------------------------------------------------------------------------
  // Records are a few hundred bytes, read and written with synchronous calls: a RUN step reads
  // its whole chain's records and writes two, and each awaited call is a thread-pool round
  // trip (~50 µs here) where the system call itself takes a few µs.

  protected async readRecord(name: string): Promise<SnapshotRecord | undefined> {
    let text: string;
    try {
      text = readFileSync(this.recordPath(name), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    const parsed: unknown = JSON.parse(text);
    if (!isRecord(parsed) || parsed.name !== name) {
      throw new BuilderError('EINTERNAL', `snapshot record ${this.recordPath(name)} is malformed`);
    }
    if (fromEarlierBoot(parsed)) {
      await this.discard(parsed);
      return undefined;
    }
    return parsed;
  }

  /** Drops a snapshot from an earlier boot that was written volatile: record, then directory. */
  private async discard(record: SnapshotRecord): Promise<void> {
    await this.deleteRecord(record.name);
    await rm(this.snapshotDir(record.id), { recursive: true, force: true }).catch(() => {});
  }

  private writeTemp(record: SnapshotRecord): string {
    const dir = join(this.root, 'metadata');
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.tmp-${randomHex(8)}`);
    writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
    return tmp;
  }

  /** Creates the record; EEXIST when the key or name is taken (atomic across processes). */
  private async createRecord(record: SnapshotRecord): Promise<void> {
    const tmp = this.writeTemp(record);
    try {
      linkSync(tmp, this.recordPath(record.name));
    } catch (err) {
      if (isErrno(err, 'EEXIST')) {
        throw new BuilderError('EEXIST', `snapshot ${JSON.stringify(record.name)} already exists`);
      }
      throw err;
    } finally {
      try {
        unlinkSync(tmp);
      } catch {
        // gone already
      }
    }
  }

  private async deleteRecord(name: string): Promise<void> {
    try {
      unlinkSync(this.recordPath(name));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }

  private async allRecords(): Promise<SnapshotRecord[]> {
    const dir = join(this.root, 'metadata');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const out: SnapshotRecord[] = [];
    for (const file of names) {
      if (!file.endsWith('.json')) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(join(dir, file), 'utf8'));
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue; // removed meanwhile
        throw new BuilderError('EINTERNAL', `snapshot record ${join(dir, file)} is unreadable`, {
          cause: err,
        });
      }
      if (!isRecord(parsed)) continue;
      if (fromEarlierBoot(parsed)) await this.discard(parsed);
      else out.push(parsed);
    }
    return out;
  }

  protected async mustRead(name: string, what = 'snapshot'): Promise<SnapshotRecord> {
    checkName('name', name);
    const record = await this.readRecord(name);
    if (!record) throw new BuilderError('ENOTFOUND', `${what} ${JSON.stringify(name)} not found`);
    return record;
  }

  /**
   * The lower stack for `parents`, bottom first. Each committed snapshot remembers its own
   * stack, so parents may be given containerd-style (just the top one) or in full; each name
   * contributes its stack and then itself, and names already in place are skipped.
   */
  protected async resolveStack(parents: readonly string[]): Promise<SnapshotRecord[]> {
    const stack: SnapshotRecord[] = [];
    const seen = new Set<string>();
    for (const parent of parents) {
      const record = await this.mustRead(parent, 'parent snapshot');
      if (record.kind !== 'committed') {
        throw new BuilderError(
          'EINVAL',
          `parent snapshot ${JSON.stringify(parent)} is not committed (it is ${record.kind})`,
        );
      }
      for (const name of [...record.parents, record.name]) {
        if (seen.has(name)) continue;
        seen.add(name);
        stack.push(name === record.name ? record : await this.mustRead(name, 'parent snapshot'));
      }
    }
    return stack;
  }

  private async allocate(): Promise<{ id: string; dir: string }> {
    mkdirSync(join(this.root, 'snapshots'), { recursive: true });
    for (;;) {
      const id = randomHex(6);
      const dir = this.snapshotDir(id);
      try {
        mkdirSync(dir, { mode: 0o700 });
        return { id, dir };
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err;
      }
    }
  }

  private async create(
    kind: 'active' | 'view',
    key: string,
    parents: readonly string[],
    options: PrepareOptions,
  ): Promise<Mount[]> {
    checkName('key', key);
    if (await this.readRecord(key))
      throw new BuilderError('EEXIST', `snapshot ${JSON.stringify(key)} already exists`);
    const stack = await this.resolveStack(parents);
    const { id, dir } = await this.allocate();
    const record: SnapshotRecord = {
      v: RECORD_VERSION,
      id,
      name: key,
      kind,
      parents: stack.map((r) => r.name),
      labels: { ...(options.labels ?? {}) },
      createdAt: new Date().toISOString(),
    };
    // Only the volatile snapshot itself is bound to this boot. One prepared normally over it (a
    // container's writable layer) keeps its own bytes; its parents are named by ChainID and
    // unpacked again, identical, before anything mounts it (RootfsManager.ensureChain).
    if (kind === 'active' && options.volatile === true && this.supportsVolatile()) {
      record.volatile = true;
      record.boot = bootId();
    }
    const direct = kind === 'active' && options.direct === true;
    if (direct) record.direct = true;
    try {
      await this.populate(dir, stack, kind, direct);
      await this.createRecord(record);
    } catch (err) {
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
    return direct ? [] : this.mountsOf(record, stack);
  }

  /**
   * Refuses (EPRECONDITION) when the snapshot's directory is in use by a mount of this mount
   * namespace: as an overlay upper dir, or bound somewhere. Committing or removing a mounted
   * snapshot would change a layer under a running process.
   */
  protected checkUnmounted(record: SnapshotRecord): void {
    const suffix = `/snapshots/${record.id}/fs`;
    // Long overlay options are mounted relative to the snapshots dir: "upperdir=<id>/fs".
    const isOurs = (path: string): boolean => path.endsWith(suffix) || path === `${record.id}/fs`;
    for (const m of readMountInfo()) {
      const upper = m.superOptions.find((o) => o.startsWith('upperdir='));
      if ((upper !== undefined && isOurs(upper.slice('upperdir='.length))) || m.root.endsWith(suffix)) {
        throw new BuilderError(
          'EPRECONDITION',
          `snapshot ${JSON.stringify(record.name)} is still mounted at ${m.mountPoint}`,
          { hint: 'unmount it first (withMounted unmounts when its callback returns)' },
        );
      }
    }
  }

  // ---- Snapshotter ----------------------------------------------------------------------

  prepare(key: string, parents: readonly string[] = [], options: PrepareOptions = {}): Promise<Mount[]> {
    return this.create('active', key, parents, options);
  }

  view(key: string, parents: readonly string[] = [], options: PrepareOptions = {}): Promise<Mount[]> {
    return this.create('view', key, parents, options);
  }

  async mounts(key: string): Promise<Mount[]> {
    const record = await this.mustRead(key);
    if (record.kind === 'committed') {
      throw new BuilderError(
        'EINVAL',
        `snapshot ${JSON.stringify(key)} is committed; prepare or view on top of it`,
      );
    }
    if (record.direct === true)
      throw new BuilderError(
        'EINVAL',
        `snapshot ${JSON.stringify(key)} was prepared to be written in place, not mounted`,
      );
    return this.mountsOf(record, await this.resolveStack(record.parents));
  }

  async commit(name: string, key: string, options: CommitOptions = {}): Promise<SnapshotInfo> {
    checkName('name', name);
    const active = await this.mustRead(key);
    if (active.kind !== 'active') {
      throw new BuilderError(
        'EINVAL',
        `cannot commit ${JSON.stringify(key)}: it is ${active.kind === 'view' ? 'a view' : 'committed'}`,
      );
    }
    // A direct snapshot was never mounted: no mount table to read (~0.4 ms).
    if (active.direct !== true) this.checkUnmounted(active);
    const { direct: _direct, ...rest } = active;
    const committed: SnapshotRecord = {
      ...rest,
      name,
      kind: 'committed',
      labels: { ...(options.labels ?? active.labels) },
      committedAt: new Date().toISOString(),
    };
    // Name first (exclusive), then drop the key: a crash in between leaves two records for
    // one id, and cleanup() keeps the committed one.
    await this.createRecord(committed);
    await this.deleteRecord(key);
    await this.afterCommit(this.snapshotDir(active.id));
    return this.info(committed);
  }

  async find(keyOrName: string): Promise<SnapshotInfo | undefined> {
    checkName('name', keyOrName);
    const record = await this.readRecord(keyOrName);
    return record && this.info(record);
  }

  async stat(keyOrName: string): Promise<SnapshotInfo> {
    return this.info(await this.mustRead(keyOrName));
  }

  async list(): Promise<SnapshotInfo[]> {
    const records = await this.allRecords();
    const committedIds = new Set(records.filter((r) => r.kind === 'committed').map((r) => r.id));
    return records
      .filter((r) => r.kind === 'committed' || !committedIds.has(r.id))
      .map((r) => this.info(r))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async remove(keyOrName: string): Promise<void> {
    const record = await this.mustRead(keyOrName);
    if (record.kind === 'committed') {
      const children = (await this.allRecords()).filter((r) => r.parents.includes(record.name));
      if (children.length > 0) {
        throw new BuilderError(
          'EPRECONDITION',
          `snapshot ${JSON.stringify(keyOrName)} is a parent of ${children.map((c) => JSON.stringify(c.name)).join(', ')}`,
        );
      }
    } else {
      if (record.direct !== true) this.checkUnmounted(record);
    }
    // Record first: a crash after it leaves an orphan directory, which cleanup() removes.
    await this.deleteRecord(record.name);
    await rm(this.snapshotDir(record.id), { recursive: true, force: true });
  }

  async usage(keyOrName?: string): Promise<Usage> {
    const dirs =
      keyOrName === undefined
        ? (await this.list()).map((i) => i.dir)
        : [this.fsDir((await this.mustRead(keyOrName)).id)];
    const seen = new Set<string>();
    const total: Usage = { size: 0, inodes: 0 };
    const walk = async (path: string): Promise<void> => {
      const st = await lstat(path, { bigint: true });
      const inode = `${st.dev}:${st.ino}`;
      if (seen.has(inode)) return;
      seen.add(inode);
      total.inodes++;
      total.size += Number(st.blocks) * 512;
      if (st.isDirectory()) {
        for (const entry of await readdir(path)) await walk(join(path, entry));
      }
    };
    for (const dir of dirs)
      await walk(dir).catch((err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err)));
    return total;
  }

  async changes(key: string, options: ChangeOptions = {}): Promise<Change[]> {
    const record = await this.mustRead(key);
    if (record.kind !== 'active') {
      throw new BuilderError(
        'EINVAL',
        `changes are computed for active snapshots; ${JSON.stringify(key)} is ${record.kind}`,
      );
    }
    return this.changesOf(record, await this.resolveStack(record.parents), options);
  }

  async cleanup(options: CleanupOptions = {}): Promise<{ removed: string[] }> {
    const minAge = options.minAgeMs ?? 15 * 60_000;
    const now = Date.now();
    const removed: string[] = [];
    const records = await this.allRecords();

    // Half-done commits: an active record and a committed one share an id.
    const committedIds = new Set(records.filter((r) => r.kind === 'committed').map((r) => r.id));
    for (const r of records) {
      if (r.kind !== 'committed' && committedIds.has(r.id)) {
        await this.deleteRecord(r.name);
        removed.push(`metadata for ${r.name}`);
      }
    }

    const old = async (path: string): Promise<boolean> => {
      try {
        // Whole ms, as Date.now(): a file written in the same millisecond is age 0, not -0.4.
        return now - Math.floor((await stat(path)).mtimeMs) >= minAge;
      } catch {
        return false;
      }
    };
    const metadataDir = join(this.root, 'metadata');
    for (const file of await readdir(metadataDir).catch(() => [] as string[])) {
      const path = join(metadataDir, file);
      if (file.startsWith('.tmp-') && (await old(path))) {
        await rm(path, { force: true });
        removed.push(path);
      }
    }
    const ids = new Set(records.map((r) => r.id));
    const snapshotsDir = join(this.root, 'snapshots');
    for (const id of await readdir(snapshotsDir).catch(() => [] as string[])) {
      const path = join(snapshotsDir, id);
      if (!ids.has(id) && (await old(path))) {
        await rm(path, { recursive: true, force: true });
        removed.push(path);
      }
    }
    return { removed };
  }
}
