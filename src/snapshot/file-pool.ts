// Files that COPY shares between snapshots by hard link. A COPY that runs again after one file
// of a tree changed links the unchanged files from here into the new snapshot: no new inode,
// no bytes written. New inodes are what a copy of many small files costs on a disk whose
// inode tables are not cached (on these machines: 5,000 creates 0.1-1.4 s, 5,000 links 45 ms).
//
// An entry is named by what the copied file must be: its container path, the source's
// identity (device, inode, size, mtime, ctime: the ctime changes on any write) and the owner,
// mode and mtime the copy gives it. The name is not a content hash: the bytes were copied
// from the source while its stat stayed the same, which is the check a rebuild's stat memo
// relies on too. Each destination path has its own entries, so one layer never holds two
// paths of one inode (its tar would turn the second into a hardlink entry).
//
// Sharing is safe because nothing writes a committed snapshot's files: overlay copies a
// lower file up before changing it, and every other reader only reads. Entries live in a
// directory per boot: the files were written without fsync (the snapshots that hold them are
// volatile), so after a crash the pool of the earlier boot is not trusted, only removed.

import { linkSync, mkdirSync, type Stats } from 'node:fs';
import { lstat, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../digest/sha256.js';
import { filesLinker, isErrno } from '../sys/index.js';
import { bootId } from './base-snapshotter.js';

/** What a pooled file is: the source it was copied from and the file the copy made of it. */
export interface PoolEntryIdentity {
  /** The container path it was copied to. */
  path: string;
  source: Pick<Stats, 'dev' | 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>;
  uid: number;
  gid: number;
  /** Permission bits (07777) of the copy. */
  mode: number;
  /** The copy's mtime (and atime), in ms. */
  mtimeMs: number;
}

/** Why a link was not made that linkTo answers with false: the caller copies instead. */
const NOT_LINKED: ReadonlySet<string> = new Set(['ENOENT', 'EMLINK', 'EXDEV', 'EPERM']);

export class FilePool {
  /** This boot's directory, joined once: entryPath runs for every file a COPY links. */
  #bootDir: string | undefined | null = null;

  constructor(readonly root: string) {}

  /** The pool of a snapshotter root (pool/ beside snapshots/ and metadata/). */
  static of(snapshotRoot: string): FilePool {
    return new FilePool(join(snapshotRoot, 'pool'));
  }

  /** This boot's entries; undefined where the kernel gives no boot id (then nothing is pooled). */
  private bootDir(): string | undefined {
    if (this.#bootDir === null) {
      const boot = bootId();
      this.#bootDir = boot === '' ? undefined : join(this.root, boot);
    }
    return this.#bootDir;
  }

  keyOf(id: PoolEntryIdentity): string {
    const s = id.source;
    const text = JSON.stringify([
      id.path,
      s.dev,
      s.ino,
      s.size,
      s.mtimeMs,
      s.ctimeMs,
      id.uid,
      id.gid,
      id.mode,
      id.mtimeMs,
    ]);
    return sha256Hex(text);
  }

  /** Where the entry for `key` is (whether or not it exists); undefined without a boot id. */
  entryPath(key: string): string | undefined {
    const dir = this.bootDir();
    // Not join(): the boot dir is already normalized and the key is hex (5,000 joins: ~5 ms).
    return dir === undefined ? undefined : `${dir}/${key.slice(0, 2)}/${key}`;
  }

  /** Links entries in batches on a libuv worker; undefined where only linkTo can (no addon, no boot id). */
  batch(): PoolLinkBatch | undefined {
    const link = filesLinker();
    const dir = this.bootDir();
    return link === undefined || dir === undefined ? undefined : new PoolLinkBatch(this, link);
  }

  /**
   * Links the entry to `target` (which must not exist). False when there is no such entry or
   * the link cannot be made (too many links, another filesystem): the caller copies instead.
   * EEXIST (something at `target`) is thrown, as a create would throw it.
   */
  linkTo(key: string, target: string): boolean {
    const from = this.entryPath(key);
    if (from === undefined) return false;
    try {
      linkSync(from, target);
      return true;
    } catch (err) {
      if (NOT_LINKED.has((err as NodeJS.ErrnoException).code ?? '')) return false;
      throw err;
    }
  }

  /**
   * Makes the finished copy `file` the entry for `key`. Best effort: an entry already there
   * (another build made the same one) or a pool that cannot take it leaves things as they are.
   */
  adopt(key: string, file: string): void {
    const to = this.entryPath(key);
    if (to === undefined) return;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(file, to);
        return;
      } catch (err) {
        if (attempt === 0 && isErrno(err, 'ENOENT')) {
          try {
            mkdirSync(join(to, '..'), { recursive: true, mode: 0o700 });
          } catch {
            return;
          }
          continue;
        }
        return;
      }
    }
  }

  /**
   * Removes what no snapshot shares any more (entries with one link left) and the pools of
   * earlier boots. A build linking an entry at the same moment keeps its file: the inode lives
   * on in its snapshot.
   */
  async prune(): Promise<{ removed: number; bytes: number }> {
    let removed = 0;
    let bytes = 0;
    const current = this.bootDir();
    for (const boot of await readdir(this.root).catch(() => [] as string[])) {
      const dir = join(this.root, boot);
      if (dir === current) continue;
      await rm(dir, { recursive: true, force: true });
      removed++;
    }
    if (current === undefined) return { removed, bytes };
    for (const shard of await readdir(current).catch(() => [] as string[])) {
      const shardDir = join(current, shard);
      for (const name of await readdir(shardDir).catch(() => [] as string[])) {
        const path = join(shardDir, name);
        const st = await lstat(path).catch(() => undefined);
        if (st === undefined || st.nlink > 1) continue;
        await unlink(path).catch(() => {});
        removed++;
        bytes += st.blocks * 512;
      }
    }
    return { removed, bytes };
  }
}

const BATCH = 512;
/** A batch this small is linked on this thread: a trip to the worker and back costs more. */
const LINK_HERE_MAX = 16;

/**
 * FilePool.linkTo for many files, made on a libuv worker a batch at a time while the caller
 * goes on with the next files (bigctx: 5,000 links, ~50-80 ms of syscalls, overlapped with
 * the copy's own work). What the worker could not link (linkTo's false) is handed back to
 * `unlinked` on this thread; any other failure (EEXIST included) rejects send() or finish().
 * Until finish() or settle() has returned, the targets may or may not exist yet.
 */
export class PoolLinkBatch {
  #from: string[] = [];
  #to: string[] = [];
  #unlinked: (() => void)[] = [];
  #inFlight: Promise<void> | undefined;

  constructor(
    private readonly pool: FilePool,
    private readonly link: (from: string[], to: string[]) => Promise<(string | undefined)[]>,
  ) {}

  /** Queues the link of entry `key` to `target`; `unlinked` makes the file some other way. */
  add(key: string, target: string, unlinked: () => void): void {
    this.#from.push(this.pool.entryPath(key) as string);
    this.#to.push(target);
    this.#unlinked.push(unlinked);
  }

  /** True when enough links are queued to send them. */
  get full(): boolean {
    return this.#from.length >= BATCH;
  }

  /** Waits for the batch on the worker (handing back what it could not link), sends the queued one. */
  async send(): Promise<void> {
    await this.#inFlight;
    this.#inFlight = undefined;
    if (this.#from.length === 0) return;
    const [from, to, unlinked] = [this.#from, this.#to, this.#unlinked];
    this.#from = [];
    this.#to = [];
    this.#unlinked = [];
    const handle = (codes: (string | undefined)[]) => {
      for (let i = 0; i < codes.length; i++) {
        const code = codes[i];
        if (code === undefined) continue;
        if (!NOT_LINKED.has(code)) throw linkError(code, from[i] as string, to[i] as string);
        (unlinked[i] as () => void)();
      }
    };
    if (from.length <= LINK_HERE_MAX) {
      handle(from.map((f, i) => linkHere(f, to[i] as string)));
      return;
    }
    const done = this.link(from, to).then(handle);
    done.catch(() => {}); // seen by the next send() or finish()
    this.#inFlight = done;
  }

  /** Every queued link made (or handed back). */
  async finish(): Promise<void> {
    await this.send();
    await this.send();
  }

  /** Waits for the worker without failing: before the target directory is removed. */
  async settle(): Promise<void> {
    await this.#inFlight?.catch(() => {});
  }
}

/** One link, answered as the worker answers: undefined when made, else the error's code. */
function linkHere(from: string, to: string): string | undefined {
  try {
    linkSync(from, to);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

function linkError(code: string, from: string, to: string): Error {
  return Object.assign(new Error(`${code}: link '${from}' -> '${to}'`), {
    code,
    syscall: 'link',
    path: from,
    dest: to,
  });
}
