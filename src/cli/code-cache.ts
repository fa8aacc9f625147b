// Runs the CLI bundle (one CommonJS file) through a V8 code cache. Compiling the bundle costs
// 15-25 ms at every start, and Node 20 has no compile cache for modules (module.enableCompileCache
// arrived in 22); vm.Script's cachedData does the same for one script. The cache only ever saves
// time: whatever is wrong with it (missing, stale, corrupt, unwritable), the bundle is compiled
// from its source as without one. This runs before anything else at every start, so it loads
// only cheap built-ins (node:crypto alone would cost ~3 ms).

import { isAscii } from 'node:buffer';
import { mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

const FORMAT = 'strata-code-cache-2';
/** Command words remembered in one cache file; past that it is no longer rewritten. */
const MAX_COMMANDS = 32;
/** A command word worth remembering ('' is a run without one: --version, --help). */
const WORD = /^[a-z0-9_-]{0,32}$/;

/** What happened to the cache in this run. */
export type CacheState = 'off' | 'miss' | 'stale' | 'rejected' | 'hit';

export interface RunOptions {
  /** The folder of cache files, or undefined for none. */
  cacheDir: string | undefined;
  /** This run's command word: the cache is written anew (at exit) when it was made by runs of
   * other commands, so that it holds the functions this one compiled too. */
  command: string;
}

/** Strata's cache folder: $XDG_CACHE_HOME/strata or ~/.cache/strata ($HOME unset: none). */
export function strataCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'strata');
  return env.HOME ? join(env.HOME, '.cache', 'strata') : undefined;
}

/** $STRATA_CODE_CACHE=0 turns the cache off; else strataCacheDir(). */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  return env.STRATA_CODE_CACHE === '0' ? undefined : strataCacheDir(env);
}

/** The first argument that is not a flag, or '' (`strata -D build …` → build). */
export function commandWord(args: string[]): string {
  return args.find((a) => !a.startsWith('-')) ?? '';
}

/** FNV-1a, for a file name per bundle path. */
function pathHash(path: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** The folder is usable only when this user owns it and nobody else may write in it: V8 runs
 * cached code as it is, so a cache planted by someone else would run their code (the build
 * memo's folder is held to the same rule: its records decide what a build answers). */
export function privateDir(dir: string): boolean {
  const st = statSync(dir);
  const uid = process.getuid?.();
  return st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & 0o022) === 0;
}

interface Cached {
  file: string;
  /** The header line: format, Node version and architecture, the bundle's length. */
  key: string;
  data: Buffer | undefined;
  commands: string[];
  state: 'miss' | 'stale' | 'hit';
}

// A cache file: the header line `key<TAB>["command", …]`, a copy of the bundle's bytes, V8's data.
// The copy is compared with the bundle, byte for byte (a tenth of a millisecond; hashing would
// need node:crypto): the cache is used for exactly the source it was made from, never for a
// bundle rewritten in place within the clock's granularity, as mtime and size would allow.

function readCache(dir: string, bundle: string, source: Buffer): Cached | undefined {
  const file = join(dir, `bundle-${pathHash(bundle)}.cache`);
  const key = [FORMAT, process.version, process.arch, source.length].join(' ');
  const found: Cached = { file, key, data: undefined, commands: [], state: 'miss' };
  let buf: Buffer;
  try {
    if (!privateDir(dir)) return undefined;
    buf = readFileSync(file);
  } catch (err) {
    // No folder or no file yet: written at exit. Anything else (EACCES): no cache.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? found : undefined;
  }
  const nl = buf.indexOf(10);
  const [k, words] = (nl < 0 ? '' : buf.toString('latin1', 0, nl)).split('\t');
  let commands: unknown;
  try {
    commands = JSON.parse(words ?? '');
  } catch {
    commands = undefined;
  }
  const start = nl + 1;
  const end = start + source.length;
  if (k !== key || !Array.isArray(commands) || !source.equals(buf.subarray(start, end)))
    return { ...found, state: 'stale' };
  return { ...found, data: buf.subarray(end), commands: commands.map(String), state: 'hit' };
}

function writeCache(dir: string, cached: Cached, commands: string[], source: Buffer, data: Buffer): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!privateDir(dir)) return;
  const header = Buffer.from(`${cached.key}\t${JSON.stringify(commands)}\n`, 'latin1');
  // Renamed into place: a reader sees the old file or the whole new one, never a part.
  const tmp = `${cached.file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([header, source, data]), { mode: 0o600 });
    renameSync(tmp, cached.file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    throw err;
  }
}

/** Compiles and runs `bundle` as a CommonJS module (its require, module, __filename), with the
 * code cache when `cacheDir` allows one. Errors of the bundle itself propagate. */
export function runBundle(bundle: string, options: RunOptions): CacheState {
  const bytes = readFileSync(bundle);
  // scripts/bundle.mjs makes the bundle ASCII: read as latin1 it costs ~2 ms less than UTF-8.
  const source = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
  const dir = options.cacheDir;
  let cached: Cached | undefined;
  try {
    cached = dir === undefined ? undefined : readCache(dir, bundle, bytes);
  } catch {
    cached = undefined;
  }
  // The module wrapper on the first line keeps line numbers; a #! line becomes a comment.
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${source.replace(/^#!/, '//')}\n})`;
  const script = new Script(wrapped, { filename: bundle, cachedData: cached?.data });
  let state: CacheState = cached === undefined ? 'off' : cached.state;
  if (state === 'hit' && script.cachedDataRejected === true) state = 'rejected';
  if (dir !== undefined && cached !== undefined) {
    const known = state === 'hit' ? cached.commands : [];
    const word = options.command;
    const learn = WORD.test(word) && !known.includes(word) && known.length < MAX_COMMANDS;
    if (state !== 'hit' || learn) {
      const commands = learn ? [...known, word] : known;
      // At exit, the cache holds every function this run compiled, besides those it was given.
      process.once('exit', () => {
        try {
          writeCache(dir, cached, commands, bytes, script.createCachedData());
        } catch {
          // an unwritable cache costs the next run the compile, nothing else
        }
      });
    }
  }
  const fn = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: { exports: unknown },
    filename: string,
    dirname: string,
  ) => void;
  const module = { exports: {} };
  fn.call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  return state;
}
