// Walks a build context the way fsutil (BuildKit's context sender) does: depth first, siblings
// in byte order, a directory before its contents, symlinks not followed. Through filters:
//
// - an entry a filter rejects is not emitted, but a directory is still entered when something
//   inside it could be let back in (an exception, or an include pattern deeper down); it is then
//   emitted just before the first entry inside it that is, and never if none is;
// - filters can be stacked (`layers`): each sees only what the one before it emitted, so an
//   exception in one layer cannot undo another layer's exclusion.
//
// Only directories that could hold a visible entry are read, and only emitted entries are
// stat'ed (in parallel, a batch at a time).

import type { Dirent, Stats } from 'node:fs';
import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { BuilderError } from '../errors.js';
import { ContextFilter, type ContextFilterOptions } from './context-filter.js';
import type { MatchInfo } from './ignore-patterns.js';

export type ContextEntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

export interface ContextEntry {
  /** Slash-separated, relative to the context root, never `.`. */
  path: string;
  type: ContextEntryType;
  /** lstat of the entry (a symlink's own). */
  stat: Stats;
}

export interface WalkContextOptions extends ContextFilterOptions {
  /** More filters stacked after include/exclude, innermost first. */
  layers?: readonly (ContextFilterOptions | ContextFilter)[];
  signal?: AbortSignal;
  /** Filled in as the walk goes, to see what it cost (benchmarks, tests). */
  counters?: WalkCounters;
}

export interface WalkCounters {
  /** Directories listed, the root included. */
  directoriesRead: number;
  /** lstat calls made. */
  stats: number;
}

/**
 * The context's entries in fsutil's order. Patterns are checked before this returns (a bad one
 * throws here, not on the first iteration); I/O errors come from the iteration.
 */
export function walkContext(root: string, options: WalkContextOptions = {}): AsyncIterable<ContextEntry> {
  const batches = walkContextBatches(root, options);
  return (async function* () {
    for await (const batch of batches) yield* batch;
  })();
}

/**
 * The same entries in the same order, a few dozen at a time: for a caller that collects them
 * all, one promise per batch instead of several per entry (a no-op build of a 5,000-file
 * context spends its time here, in code V8 has not optimized yet). Patterns are checked
 * before this returns, as for walkContext.
 */
export function walkContextBatches(
  root: string,
  options: WalkContextOptions = {},
): AsyncIterable<ContextEntry[]> {
  const filters: ContextFilter[] = [];
  if (options.include !== undefined || options.exclude !== undefined) {
    filters.push(new ContextFilter({ include: options.include, exclude: options.exclude }));
  }
  for (const layer of options.layers ?? []) {
    filters.push(layer instanceof ContextFilter ? layer : new ContextFilter(layer));
  }
  return walk(root, filters, options.signal, options.counters ?? { directoriesRead: 0, stats: 0 });
}

interface Candidate {
  path: string;
  type: ContextEntryType;
  abs: string;
}

/**
 * What a stage did with an entry: `prune` (not emitted, do not enter it), `hold` (not emitted
 * now, enter it: something inside may be), `pass` (emitted).
 */
type Verdict = 'prune' | 'hold' | 'pass';

interface Stage {
  accept(entry: Candidate): Verdict;
}

interface OpenDir {
  entry: Candidate;
  prefix: string;
  includeInfo: MatchInfo | undefined;
  excludeInfo: MatchInfo | undefined;
  emitted: boolean;
  pruned: boolean;
}

/** One filter between the walk (or an inner filter) and the next stage. */
class FilterStage implements Stage {
  /** The directories containing the current entry, outermost first. */
  private readonly open: OpenDir[] = [];

  constructor(
    private readonly filter: ContextFilter,
    private readonly next: Stage,
  ) {}

  accept(entry: Candidate): Verdict {
    const open = this.open;
    while (open.length > 0 && !entry.path.startsWith((open.at(-1) as OpenDir).prefix)) open.pop();
    // A later stage refused a directory we emitted late: nothing inside it goes through.
    if (open.some((dir) => dir.pruned)) return 'prune';
    const parent = open.at(-1);
    const isDir = entry.type === 'dir';
    let hold = false;

    const { include, exclude } = this.filter;
    let includeInfo: MatchInfo | undefined;
    if (include !== undefined) {
      const r = include.matchesUsingParentResults(entry.path, parent?.includeInfo);
      includeInfo = r.info;
      if (!r.matched) {
        if (isDir && !this.filter.includeCouldMatchInside(entry.path)) return 'prune';
        hold = true;
      }
    }
    let excludeInfo: MatchInfo | undefined;
    if (exclude !== undefined) {
      const r = exclude.matchesUsingParentResults(entry.path, parent?.excludeInfo);
      excludeInfo = r.info;
      if (r.matched) {
        if (isDir && !this.filter.exceptionCouldMatchInside(entry.path)) return 'prune';
        hold = true;
      }
    }

    const self: OpenDir | undefined = isDir
      ? { entry, prefix: `${entry.path}/`, includeInfo, excludeInfo, emitted: false, pruned: false }
      : undefined;
    if (self !== undefined) open.push(self);
    if (hold) return 'hold';

    // Emit the directories we held on the way here, outermost first.
    for (const dir of open) {
      if (dir === self || dir.emitted) continue;
      dir.emitted = true;
      if (this.next.accept(dir.entry) === 'prune') {
        dir.pruned = true;
        return 'prune';
      }
    }
    if (self !== undefined) self.emitted = true;
    if (this.next.accept(entry) === 'prune') {
      if (self !== undefined) self.pruned = true;
      return 'prune';
    }
    return 'pass';
  }
}

/** How many entries (with their lstat) are handed out at a time. */
const STAT_BATCH = 256;

interface Frame {
  abs: string;
  rel: string;
  entries: Dirent[];
  index: number;
}

async function* walk(
  root: string,
  filters: ContextFilter[],
  signal: AbortSignal | undefined,
  counters: WalkCounters,
): AsyncGenerator<ContextEntry[]> {
  let rootDir: string;
  try {
    rootDir = realpathSync.native(root); // fsutil resolves a symlinked root too
    const info = statSync(rootDir);
    if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (err) {
    throw ioError(`opening build context ${root}`, err);
  }

  const emitted: Candidate[] = [];
  let head: Stage = {
    accept(entry) {
      emitted.push(entry);
      return 'pass';
    },
  };
  for (const filter of [...filters].reverse()) head = new FilterStage(filter, head);

  // lstat results are values (errors too), thrown in order as the batch is handed out.
  const pending: { entry: Candidate; stat: Stats | Error | undefined }[] = [];
  function flush(): ContextEntry[] {
    const out: ContextEntry[] = [];
    for (const { entry, stat: st } of pending) {
      if (st === undefined) continue; // gone since it was listed
      if (st instanceof Error) throw ioError(`reading ${entry.path}`, st);
      out.push({ path: entry.path, type: entry.type, stat: st });
    }
    pending.length = 0;
    return out;
  }

  const list = (abs: string, path: string, held: boolean) => {
    counters.directoriesRead++;
    return listDir(abs, path, held);
  };
  const lstatCounted = (abs: string) => {
    counters.stats++;
    return lstatSettled(abs);
  };
  const frames: Frame[] = [{ abs: rootDir, rel: '', entries: await list(rootDir, '.', false), index: 0 }];
  while (frames.length > 0) {
    signal?.throwIfAborted();
    const frame = frames.at(-1) as Frame;
    const dirent = frame.entries[frame.index++];
    if (dirent === undefined) {
      frames.pop();
      continue;
    }
    const abs = `${frame.abs}/${dirent.name}`;
    const path = frame.rel === '' ? dirent.name : `${frame.rel}/${dirent.name}`;
    const type = direntType(dirent) ?? typeFromLstat(abs, lstatCounted);
    if (type === undefined) continue;
    const verdict = head.accept({ path, type, abs });
    for (const entry of emitted) pending.push({ entry, stat: lstatCounted(entry.abs) });
    emitted.length = 0;
    if (pending.length >= STAT_BATCH) yield flush();
    if (type === 'dir' && verdict !== 'prune') {
      frames.push({ abs, rel: path, entries: await list(abs, path, verdict === 'hold'), index: 0 });
    }
  }
  yield flush();
}

/** A directory's entries in byte order; [] when it vanished, or is unreadable but not emitted (as fsutil). */
async function listDir(abs: string, path: string, held: boolean): Promise<Dirent[]> {
  try {
    // Synchronous, as the lstats below: an awaited readdir is a thread-pool round trip.
    const entries = readdirSync(abs, { withFileTypes: true });
    return entries.sort((a, b) => compareByteOrder(a.name, b.name));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    if (held && (code === 'EACCES' || code === 'EPERM')) return [];
    throw ioError(`reading directory ${path}`, err);
  }
}

function direntType(d: Dirent | Stats): ContextEntryType | undefined {
  if (d.isFile()) return 'file';
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isFIFO()) return 'fifo';
  if (d.isSocket()) return 'socket';
  if (d.isCharacterDevice()) return 'char';
  if (d.isBlockDevice()) return 'block';
  return undefined;
}

/** Node resolves unknown dirent types itself; this is the fallback should one slip through. */
function typeFromLstat(
  abs: string,
  lstatOf: (abs: string) => Stats | Error | undefined,
): ContextEntryType | undefined {
  const st = lstatOf(abs);
  if (st instanceof Error) throw ioError(`reading ${abs}`, st);
  return st === undefined ? undefined : direntType(st);
}

// Synchronous on purpose: an lstat costs microseconds in the kernel, an awaited one a thread-pool
// round trip (~50 µs here), which on a 5,000-file context was most of a no-op rebuild's walk.
function lstatSettled(abs: string): Stats | Error | undefined {
  try {
    return lstatSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? undefined : (err as Error);
  }
}

/** Go's string order (UTF-8 bytes), which differs from JS's UTF-16 order above U+FFFF. */
export function compareByteOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Surrogates (code points above U+FFFF) sort after U+E000–U+FFFF in UTF-8. */
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

function ioError(what: string, err: unknown): BuilderError {
  const code = (err as NodeJS.ErrnoException).code;
  const kind = code === 'ENOENT' ? 'ENOTFOUND' : code === 'ENOTDIR' ? 'EINVAL' : 'EPRECONDITION';
  return new BuilderError(kind, `${what}: ${(err as Error).message}`, { cause: err });
}
