// The build memo: a record, written after a build, of everything its result depended on, so
// that the same build asked again with nothing changed is answered without starting Node.
// The `strata` front program (native/strata_front.c, native/build_memo.c) reads it: when every
// check below still holds, it prints the recorded output and exits; at the first difference it
// starts the CLI as usual, which builds (from the cache) and writes a new record.
//
// What a build's result depends on, and how the record pins it:
//   the invocation      cwd, the arguments, the environment Strata reads, the uid, the CLI
//                       files themselves (size, mtime, inode): the record's key and `stat`s
//   the context         the whole directory tree, ignored files included except in top-level
//                       directories .dockerignore excludes whole (.git): its fingerprint
//                       (native/tree_fingerprint.h: every entry's path, type, mode, owner,
//                       size, mtime, ctime, inode), and the Dockerfile and .dockerignore files
//                       by content, wherever they are
//   the store           every name, record and cache-index file the build read or wrote, by
//                       content (store/meta/read-journal.ts): a moved tag, a pruned or
//                       rewritten cache entry, a removed image all differ; the image's blobs
//                       must exist
// A change must be visible in one of these. A file changed while the build read it may keep
// its size and timestamps (the clock ticks coarser than a write), so a record is written only
// when the tree's newest change is older than the build's start by more than the filesystem's
// timestamp granularity, as git does with racily clean index entries.
// Builds that depend on more (stdin, --no-cache, --pull, --push, outputs, secrets, a build arg
// taken from the environment, ADD of a URL, a store listing) write no record. --iidfile is
// written again by an answer (a `write` record).
//
// Format: the line "strata-build-memo 1", then records `<tag> <length>\n<payload>\n` in any
// order, `end` last: key, stat (path\0size\0mtime ns\0inode), file (path\0content), absent
// (path), blob (path), tree (directory\0digest, then \0name per pruned directory), write
// (path\0content: a file the answer writes, after every check), stdout, stderr.

import {
  type BigIntStats,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProgressEvent } from '../build/progress.js';
import { ContextFilter } from '../context/context-filter.js';
import { loadIgnorePatterns } from '../context/dockerignore.js';
import { sha256Hex } from '../digest/sha256.js';
import type { ReadJournal } from '../store/meta/read-journal.js';
import { randomHex } from '../sys/index.js';
import { type TreeFingerprint, treeFingerprint } from '../sys/native.js';
import { privateDir, strataCacheDir } from './code-cache.js';
import { createProgressRenderer } from './render/progress.js';

const HEADER = 'strata-build-memo 1';
/** Contexts walked for a fingerprint at most this big (~100 ms here): past it, no memo. The
 * front program stops walking there too (native/tree_fingerprint.h MEMO_MAX_CONTEXT_ENTRIES). */
export const MAX_CONTEXT_ENTRIES = 100_000;
/** A tree digest no walk gives (native/edit_replay.c writes the same). */
const NO_TREE = '-'.repeat(64);
/** Records kept; past this the oldest half goes (one record per distinct invocation). */
const MAX_RECORDS = 512;

/** `$STRATA_BUILD_MEMO=0` turns memos off; else `$XDG_CACHE_HOME/strata/build-memo` or
 * `~/.cache/strata/build-memo` (the front program computes the same). */
export function buildMemoDir(env: NodeJS.ProcessEnv): string | undefined {
  const cache = env.STRATA_BUILD_MEMO === '0' ? undefined : strataCacheDir(env);
  return cache === undefined ? undefined : join(cache, 'build-memo');
}

/** Environment variables that can change what a build makes or where it keeps it
 * ($STRATA_BUILD_MEMO=explain only makes both sides say why they did not use a memo). */
function keyedEnv(name: string): boolean {
  return (
    (name.startsWith('STRATA_') && name !== 'STRATA_BUILD_MEMO') ||
    name === 'SOURCE_DATE_EPOCH' ||
    name === 'HOME' ||
    name === 'XDG_DATA_HOME' ||
    name === 'XDG_CACHE_HOME'
  );
}

/** The CLI entry the front program starts (dist/strata.cjs), resolved as it resolves it. */
export function cliEntry(): string {
  const here = import.meta.url;
  const entry = fileURLToPath(
    new URL(here.endsWith('strata-bundle.cjs') ? 'strata.cjs' : '../../strata.cjs', here),
  );
  try {
    return realpathSync(entry);
  } catch {
    return entry;
  }
}

export interface MemoKeyInput {
  uid: number;
  cwd: string;
  entry: string;
  /** The words after `strata`. */
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
}

/** The invocation, as bytes: NUL-terminated fields, the environment sorted by bytes. */
export function buildMemoKey(k: MemoKeyInput): Buffer {
  const fields = [
    HEADER,
    `uid=${k.uid}`,
    `cwd=${k.cwd}`,
    `entry=${k.entry}`,
    `argc=${k.argv.length}`,
    ...k.argv,
    'env',
  ];
  const env: Buffer[] = [];
  for (const [name, value] of Object.entries(k.env))
    if (value !== undefined && keyedEnv(name)) env.push(Buffer.from(`${name}=${value}`));
  env.sort(Buffer.compare);
  const parts: Buffer[] = [];
  for (const f of [...fields.map((f) => Buffer.from(f)), ...env]) parts.push(f, Buffer.alloc(1));
  return Buffer.concat(parts);
}

function buildMemoFile(dir: string, key: Buffer): string {
  return join(dir, sha256Hex(key));
}

/** Why a build with these flags cannot be answered from a record, or undefined. */
export function ineligibleFlags(o: {
  fromStdin: boolean;
  noCache: boolean;
  pull: boolean;
  push: boolean;
  outputs: number;
  secrets: number;
  buildArgsFromEnv: boolean;
}): string | undefined {
  if (o.fromStdin) return 'the context or Dockerfile comes from stdin';
  if (o.noCache) return '--no-cache';
  if (o.pull) return '--pull asks the registry';
  if (o.push) return '--push';
  if (o.outputs > 0) return '--output';
  if (o.secrets > 0) return '--secret';
  if (o.buildArgsFromEnv) return 'a --build-arg takes its value from the environment';
  return undefined;
}

/** Filesystem types whose timestamps have nanoseconds (ext2-4, xfs, btrfs, tmpfs, overlay,
 * f2fs, zfs): a change is at most a clock tick older than its timestamp says. */
const FINE_TIMESTAMPS = new Set([
  0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630, 0xf2f52010, 0x2fc12fc1,
]);

/** How much older than the build's start the tree's newest change must be. */
function racyMarginMs(dir: string): number {
  try {
    if (FINE_TIMESTAMPS.has(Number(statfsSync(dir).type))) return 100;
  } catch {}
  return 2500; // FAT keeps mtimes to 2 s; anything unknown gets the same
}

/** What a no-op build prints in plain mode: every step that ran or came from the cache shows
 * as CACHED, other vertices (context, FROM, export) with their status lines, no step output. */
export function noOpTranscript(
  events: readonly ProgressEvent[],
  stepNames: ReadonlySet<string>,
  rebuilt?: string,
): string {
  let text = '';
  const sink = {
    write(chunk: string) {
      text += chunk;
      return true;
    },
  };
  const renderer = createProgressRenderer('plain', sink as never);
  const seen = new Set<number>();
  for (const e of events) {
    const step = stepNames.has(e.name);
    if (!seen.has(e.id)) {
      seen.add(e.id);
      renderer.onEvent({ id: e.id, name: e.name, status: 'started', time: e.time });
    }
    if (step) {
      if (e.status === 'cached' || e.status === 'done')
        renderer.onEvent({ ...e, status: e.name === rebuilt ? 'done' : 'cached' });
      continue;
    }
    if (e.log?.stream === 'status' || e.status === 'done') renderer.onEvent(e);
  }
  renderer.close();
  return `${rebuilt === undefined ? MEMO_LINE : REPLAY_LINE}${text}`;
}

/** How an answer from the record says so, before the steps (plain and tty modes). */
export const MEMO_LINE =
  '#0 [memo] nothing this build reads has changed since it last ran: its result is reused\n#0 DONE 0.0s\n\n';

/** How a replay says so (native/edit_replay.c prints it from the record). */
export const REPLAY_LINE =
  '#0 [memo] only files the last COPY copies have changed since this build last ran: that layer is made again from them\n#0 DONE 0.0s\n\n';

/** Keeps what the transcript needs: vertex events and status lines, not step output. */
export function keepForTranscript(e: ProgressEvent): boolean {
  return e.log === undefined || e.log.stream === 'status';
}

/** The context's fingerprint and the top-level directories it leaves out. */
export interface ContextFingerprint {
  tree: TreeFingerprint;
  pruned: string[];
}

/** At most this many pruned directories (the front program reads up to 256). */
const MAX_PRUNED = 64;

/**
 * Top-level directories of the context that .dockerignore excludes whole (no exception could
 * bring back anything inside): what happens in them (a `git` command in .git, node_modules)
 * cannot change the build, so the fingerprint does not look inside. Deeper ones are not
 * pruned: the fingerprint is only ever stricter than the build.
 */
export async function excludedTopDirectories(contextDir: string, dockerfilePath?: string): Promise<string[]> {
  const { patterns } = await loadIgnorePatterns(contextDir, dockerfilePath);
  if (patterns.length === 0) return [];
  const filter = new ContextFilter({ exclude: patterns });
  const out: string[] = [];
  for (const e of await readdir(contextDir, { withFileTypes: true })) {
    if (e.isDirectory() && !filter.allows(e.name) && !filter.exceptionCouldMatchInside(e.name))
      out.push(e.name);
  }
  out.sort();
  return out.length <= MAX_PRUNED && out.join('\0').length < 3000 ? out : [];
}

/**
 * Starts taking the context's fingerprint on a worker, at any moment after the build's start:
 * a change after that start is either seen (a change newer than the start: no record) or not
 * (the recorded state is then older than the tree's, and never matches it again).
 */
export async function fingerprintContext(
  contextDir: string,
  dockerfilePath?: string,
): Promise<ContextFingerprint | string> {
  // A .dockerignore that does not parse fails the build anyway; then nothing is pruned.
  const pruned = await excludedTopDirectories(contextDir, dockerfilePath).catch(() => []);
  const started = treeFingerprint(contextDir, MAX_CONTEXT_ENTRIES, pruned);
  if (started === undefined) return 'the native addon is not built';
  return started.then(
    (tree) => ({ tree, pruned }),
    (err: NodeJS.ErrnoException) =>
      err.code === 'E2BIG'
        ? `the context has more than ${MAX_CONTEXT_ENTRIES} entries, ignored ones included`
        : `the context cannot be walked: ${err.message}`,
  );
}

export interface BuildMemoInput {
  dir: string;
  key: Buffer;
  contextDir: string;
  /** fingerprintContext(contextDir), started after startedMs; a string says why there is none. */
  context: ContextFingerprint | string;
  /** Date.now() before the build read anything. */
  startedMs: number;
  journal: ReadJournal;
  /** Files read outside the store, with the text the build used (undefined: it was absent). */
  files: ReadonlyArray<{ path: string; text: string | undefined }>;
  /** Files read outside the store whose text the caller did not keep: pinned as they are now,
   * if they did not change since the build started. */
  watched: readonly string[];
  /** Blobs the result needs. */
  blobs: readonly string[];
  /** The CLI's own files: another version of Strata might build differently. */
  code: readonly string[];
  /** Files the build writes besides the store (--iidfile), written again by an answer. */
  writes?: ReadonlyArray<{ path: string; content: string }>;
  /** The edit replay's records (edit-replay.ts), when the build has them. */
  replay?: { records: readonly Buffer[]; newestNs: bigint };
  stdout: string;
  stderr: string;
}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** One record of a memo file: `<tag> <length>\n<payload>\n`. */
export function memoRecord(tag: string, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([Buffer.from(`${tag} ${body.length}\n`), body, Buffer.from('\n')]);
}

/**
 * Writes the record (temp file + rename, mode 0600) and returns undefined, or returns why it
 * did not (then any older record of this invocation is removed). Never throws for a reason
 * of the build's: a memo only ever saves time.
 */
export function writeBuildMemo(m: BuildMemoInput): string | undefined {
  const file = buildMemoFile(m.dir, m.key);
  const skip = (why: string) => {
    try {
      unlinkSync(file);
    } catch {}
    return why;
  };
  if (m.journal.unreplayable) return skip(m.journal.unreplayable);
  if (typeof m.context === 'string') return skip(m.context);
  const { tree, pruned } = m.context;
  // Changes from here on may be younger than what the build read (ns since the epoch).
  const racyFromNs = BigInt(Math.floor(m.startedMs - racyMarginMs(m.contextDir))) * 1_000_000n;
  // A copied file changed that recently: a record that cannot answer a no-op (its tree digest
  // matches none), but can replay the edit, which reads the files again.
  const replayOnly = tree.newestNs >= racyFromNs && m.replay !== undefined && m.replay.newestNs < racyFromNs;
  if (tree.newestNs >= racyFromNs && !replayOnly)
    return skip('a context file changed just before or during the build');

  const out: Buffer[] = [Buffer.from(`${HEADER}\n`), memoRecord('key', m.key)];
  for (const path of m.code) {
    const st = statSync(path, { bigint: true });
    out.push(memoRecord('stat', `${path}\0${st.size}\0${st.mtimeNs}\0${st.ino}`));
  }
  const pin = (path: string, now: Buffer | undefined) =>
    out.push(
      now === undefined
        ? memoRecord('absent', path)
        : memoRecord('file', Buffer.concat([Buffer.from(`${path}\0`), now])),
    );
  for (const f of m.files) {
    const now = readIfExists(f.path);
    if (now?.toString('utf8') !== f.text) return skip(`${f.path} changed during the build`);
    pin(f.path, now);
  }
  for (const path of m.watched) {
    let st: BigIntStats | undefined;
    try {
      st = statSync(path, { bigint: true });
    } catch {}
    if (st !== undefined && st.ctimeNs >= racyFromNs)
      return skip(`${path} changed just before or during the build`);
    pin(path, readIfExists(path));
  }
  // Store files as they are now: what the build wrote, and what it only read if that is still
  // the text it read (another process may have changed it meanwhile).
  for (const path of new Set([...m.journal.read.keys(), ...m.journal.written])) {
    const now = readIfExists(path);
    if (!m.journal.written.has(path) && now?.toString('utf8') !== m.journal.read.get(path))
      return skip('the store changed during the build');
    pin(path, now);
  }
  for (const path of m.blobs) out.push(memoRecord('blob', path));
  out.push(memoRecord('tree', [m.contextDir, replayOnly ? NO_TREE : tree.digest, ...pruned].join('\0')));
  for (const w of m.writes ?? []) out.push(memoRecord('write', `${w.path}\0${w.content}`));
  out.push(...(m.replay?.records ?? []));
  out.push(memoRecord('stdout', m.stdout), memoRecord('stderr', m.stderr), memoRecord('end', ''));

  mkdirSync(m.dir, { recursive: true, mode: 0o700 });
  // The front program refuses a folder another user owns or may write in: no record there.
  if (!privateDir(m.dir)) return skip(`${m.dir} is not private to this user`);
  const temp = join(m.dir, `.tmp-${process.pid}-${randomHex(6)}`);
  // Only a new record can take the folder past MAX_RECORDS (listing 512 names costs ~0.4 ms).
  const added = !existsSync(file);
  try {
    writeFileSync(temp, Buffer.concat(out), { flag: 'wx', mode: 0o600 });
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  if (added) trim(m.dir);
  return undefined;
}

/** One record per distinct invocation accumulates: past MAX_RECORDS the older half goes. */
function trim(dir: string): void {
  const names = readdirSync(dir);
  if (names.length <= MAX_RECORDS) return;
  const aged = names
    .map((name) => {
      try {
        return { name, mtime: lstatSync(join(dir, name)).mtimeMs };
      } catch {
        return { name, mtime: 0 };
      }
    })
    .sort((a, b) => a.mtime - b.mtime);
  for (const { name } of aged.slice(0, aged.length / 2)) {
    try {
      unlinkSync(join(dir, name));
    } catch {}
  }
}
