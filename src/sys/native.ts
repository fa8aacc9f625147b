// Typed access to our Node-API addon (native/strata_sys.c): mount(2), umount2(2), mknod(2)
// and the l*xattr(2) calls, which Node does not offer. The addon is loaded lazily, on the
// first call, so modules that never mount anything (and hosts that never built it) pay nothing.
//
// Where the addon is looked for, first match wins:
//   1. $STRATA_NATIVE: the path of a built strata_sys.node (packagers, unusual layouts);
//   2. native/build/Release/strata_sys.node in this module's directory or any parent: finds the
//      checkout from src/sys (ts runners), dist/src/sys (the build) and node_modules/strata;
//   3. the same walk from the working directory: covers code compiled out of tree
//      (tsc --outDir /tmp/x) and run from inside the checkout.
// Walking up, rather than a fixed '../../..', keeps working whatever the output depth is.
//
// System-call failures come through unchanged: Errors with `code` set to the errno name
// ('EPERM', 'EBUSY'…), a negative `errno`, `syscall` and `path`, like Node's fs errors.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { BuilderError } from '../errors.js';
import { crypto } from './lazy-builtins.js';

/** The functions the addon exports; see native/strata_sys.c. */
interface Addon {
  mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data: string | null,
  ): void;
  umount2(target: string, flags: number): void;
  mknod(path: string, mode: number, major: number, minor: number): void;
  lgetxattr(path: string, name: string): Buffer | null;
  lsetxattr(path: string, name: string, value: Uint8Array | string, flags: number): void;
  lremovexattr(path: string, name: string): void;
  llistxattr(path: string): string[];
  /** Absent from an addon built before they were added. */
  alignedBuffer?(size: number, alignment: number): Buffer;
  setDirect?(fd: number, on: boolean): void;
  lstatDir?(dir: string, xattrs: boolean): DirStats;
  /** Lists of paths: an array, or one string of them joined by NUL (one conversion for all). */
  readFilesInto?(
    paths: string[] | string,
    buffer: Uint8Array,
    ranges: Float64Array,
    counts: Float64Array,
    callback: (err: Error | null) => void,
  ): void;
  linkFiles?(
    from: string[] | string,
    to: string[] | string,
    errnos: Int32Array,
    callback: (err: Error | null) => void,
  ): void;
  prefetchFiles?(paths: string[], callback: () => void): void;
  /** Present with the SHA-256 functions (it hashes with them). */
  writeTar?(
    fd: number,
    headers: Uint8Array,
    headerLengths: Float64Array,
    sources: string[] | string,
    sizes: Float64Array,
    callback: (err: Error | null, result?: TarWritten) => void,
  ): void;
  /** Only the worker form: a build must not walk its context on the main thread. */
  treeFingerprintAsync?(
    path: string,
    maxEntries: number,
    pruned: string[] | undefined,
    hot: string[] | undefined,
    whole: string[] | undefined,
    callback: (err: Error | null, fp?: TreeFingerprint) => void,
  ): void;
  /** Present when the Node binary exports OpenSSL's SHA-256. */
  sha256Init?(): Buffer;
  sha256Update?(state: Buffer, data: Uint8Array): void;
  sha256UpdateAsync?(
    state: Buffer,
    data: Uint8Array | Uint8Array[],
    callback: (err: Error | null) => void,
  ): void;
  sha256Final?(state: Buffer): Buffer;
  /** One buffer's SHA-256 in one call (with the functions above). */
  sha256?(data: Uint8Array): Buffer;
  randomFill?(buffer: Uint8Array): void;
  constants: Readonly<Record<string, number>>;
}

const RELATIVE = join('native', 'build', 'Release', 'strata_sys.node');

let loaded: { addon: Addon; path: string } | { error: string } | undefined;

function* ancestors(start: string): Generator<string> {
  let dir = resolve(start);
  for (;;) {
    yield dir;
    const parent = dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

/** Where the addon would be loaded from, or undefined when no candidate exists. */
export function locateAddon(): string | undefined {
  const fromEnv = process.env.STRATA_NATIVE;
  if (fromEnv) return resolve(fromEnv);
  const here = dirname(fileURLToPath(import.meta.url));
  for (const start of [here, process.cwd()]) {
    for (const dir of ancestors(start)) {
      const candidate = join(dir, RELATIVE);
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

function load(): { addon: Addon; path: string } | { error: string } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    loaded = { error: `the strata_sys addon is Linux-only (this is ${process.platform})` };
    return loaded;
  }
  const path = locateAddon();
  if (!path) {
    loaded = {
      error: `native addon not found (${RELATIVE} in no parent of this module or of the working directory; STRATA_NATIVE unset)`,
    };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as Addon;
    loaded = { addon, path };
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0];
    loaded = { error: `native addon ${path} failed to load: ${first}` };
  }
  return loaded;
}

function addon(): Addon {
  const state = load();
  if ('addon' in state) return state.addon;
  throw new BuilderError('EPRECONDITION', `cannot mount or read xattrs: ${state.error}`, {
    hint: 'build the addon with `npm run build:native` in the Strata checkout (node-gyp and a C compiler), or point STRATA_NATIVE at a built strata_sys.node',
  });
}

/** True when the addon loads; never throws. */
export function sysAvailable(): boolean {
  return 'addon' in load();
}

/** Why the addon is unavailable, or undefined when it loaded. */
export function sysUnavailableReason(): string | undefined {
  const state = load();
  return 'error' in state ? state.error : undefined;
}

/** The path the addon was loaded from (undefined until loaded or when unavailable). */
export function sysAddonPath(): string | undefined {
  const state = load();
  return 'path' in state ? state.path : undefined;
}

/** The constants the addon was compiled with (for checking ./constants.ts). */
export function sysConstants(): Readonly<Record<string, number>> {
  return addon().constants;
}

/** mount(2). `data` is the filesystem-specific option string (e.g. overlay's lowerdir=…). */
export function mount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null = null,
): void {
  addon().mount(source, target, fstype, flags, data);
}

/** umount2(2); flags from MNT. */
export function umount2(target: string, flags = 0): void {
  addon().umount2(target, flags);
}

/** mknod(2). `mode` includes the type bits (S_IF.CHR | 0o600); char 0:0 is an overlay whiteout. */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  addon().mknod(path, mode, major, minor);
}

/** lgetxattr(2): the value, or null when the attribute is absent (ENODATA). */
export function lgetxattr(path: string, name: string): Buffer | null {
  return addon().lgetxattr(path, name);
}

/** lsetxattr(2); flags from XATTR. */
export function lsetxattr(path: string, name: string, value: Uint8Array | string, flags = 0): void {
  addon().lsetxattr(path, name, value, flags);
}

/** lremovexattr(2). */
export function lremovexattr(path: string, name: string): void {
  addon().lremovexattr(path, name);
}

/** llistxattr(2): attribute names, in the order the filesystem gives them. */
export function llistxattr(path: string): string[] {
  return addon().llistxattr(path);
}

/** A directory tree's fingerprint (native/tree_fingerprint.h): SHA-256 over every entry's
 * relative path and lstat fields, names in byte order. */
export interface TreeFingerprint {
  digest: string;
  entries: number;
  /** The newest mtime or ctime in the tree, ns since the epoch. */
  newestNs: bigint;
  /** With `hot` files: the digest in which they count by path, type, mode and owner only
   * (native/tree_fingerprint.h, struct tree_hot). */
  masked?: string;
  /** With `hot` files: the newest mtime or ctime among the entries `masked` counts whole. */
  maskedNewestNs?: bigint;
}

/** A directory's entries, lstat'ed (see dirStats). */
export interface DirStats {
  /** In byte order. */
  names: string[];
  /** LSTAT_FIELDS numbers per entry: mode, uid, gid, size, mtimeMs, dev, ino, nlink, rdev. */
  stats: Float64Array;
  /** Per entry its xattr names, or null: listed for directories, for everything when asked. */
  xattrs: (string[] | null)[];
}

export const LSTAT_FIELDS = 9;

/** An optional addon function, bound; undefined without the addon or in one built before it. */
function optional<K extends keyof Addon>(name: K): NonNullable<Addon[K]> | undefined {
  const state = load();
  if (!('addon' in state)) return undefined;
  const fn = state.addon[name];
  return typeof fn === 'function' ? (fn.bind(state.addon) as NonNullable<Addon[K]>) : undefined;
}

/**
 * A directory's entries with their lstat (and xattr names) in one native call; undefined
 * without the addon (or an older one). Throws fs-like errors.
 */
export function dirStats(): Addon['lstatDir'] {
  return optional('lstatDir');
}

/**
 * Paths for the addon in one string (NUL cannot be in a path, so it separates them): one
 * conversion per call instead of one per path. A path holding a NUL would split in two, and
 * the counts the calls check (ranges, targets) would no longer match.
 */
function joined(paths: string[]): string[] | string {
  return paths.length === 0 ? paths : paths.join('\0');
}

/**
 * Whole small files read into `buffer` on a libuv worker: file i goes to buffer[ranges[2i],
 * ranges[2i] + ranges[2i+1]), and the promise gives the bytes read from each (size + 1 when the
 * file is longer: it grew since its stat).
 * The buffer must not be touched until it settles. Rejects with the first file's fs-like error.
 * Undefined without the addon (or an older one).
 */
export function filesReader():
  | ((paths: string[], buffer: Uint8Array, ranges: Float64Array) => Promise<Float64Array>)
  | undefined {
  const read = optional('readFilesInto');
  return (
    read &&
    ((paths, buffer, ranges) =>
      new Promise((resolve, reject) => {
        const counts = new Float64Array(paths.length);
        read(joined(paths), buffer, ranges, counts, (err) => (err ? reject(err) : resolve(counts)));
      }))
  );
}

/**
 * link(from[i], to[i]) for each i on a libuv worker; resolves to each call's error code
 * ('EEXIST', …) or undefined where it linked. Undefined without the addon (or an older one).
 */
export function filesLinker():
  | ((from: string[], to: string[]) => Promise<(string | undefined)[]>)
  | undefined {
  const link = optional('linkFiles');
  return (
    link &&
    ((from, to) =>
      new Promise((resolve, reject) => {
        const errnos = new Int32Array(from.length);
        link(joined(from), joined(to), errnos, (err) =>
          err
            ? reject(err)
            : resolve(Array.from(errnos, (n) => (n === 0 ? undefined : getSystemErrorName(-n)))),
        );
      }))
  );
}

/** What writeTar did: the archive's SHA-256 (hex) and size, or which entry's file had another size. */
export type TarWritten = { digest: string; size: number } | { changed: number; got: number };

/**
 * Writes a tar into `fd` (a regular file, from offset 0) on a libuv worker and two threads of
 * the addon's: entry i is headerLengths[i] bytes of `headers`, then sizes[i] bytes read from
 * sources[i] and zeros to the next 512, then the end-of-archive marker; hashed as written.
 * Undefined without the addon (or one without OpenSSL's SHA-256, or an older one).
 */
export function tarFileWriter():
  | ((
      fd: number,
      headers: Uint8Array,
      headerLengths: Float64Array,
      sources: string[],
      sizes: Float64Array,
    ) => Promise<TarWritten>)
  | undefined {
  const write = optional('writeTar');
  return (
    write &&
    ((fd, headers, headerLengths, sources, sizes) =>
      new Promise((resolve, reject) =>
        write(fd, headers, headerLengths, joined(sources), sizes, (err, result) =>
          err ? reject(err) : resolve(result as TarWritten),
        ),
      ))
  );
}

/**
 * Asks the kernel, from a libuv worker, to bring these files into the page cache (queued reads,
 * not waited for); resolves once every request is made. Best effort: unreadable paths are
 * skipped. Undefined without the addon (or an older one). Regular files only: opening a device
 * can have effects.
 */
export function prefetchFiles(paths: string[]): Promise<void> | undefined {
  const prefetch = optional('prefetchFiles');
  return prefetch && new Promise((resolve) => prefetch(paths, resolve));
}

/**
 * The fingerprint of the tree at `path`, walked on a libuv worker; undefined without the addon
 * (or with one built before it existed). Rejects with fs-like errors, E2BIG past `maxEntries`
 * entries. `pruned`: directories directly under `path` that count by name and type only
 * (nothing inside them is read). `hot`: files (relative paths) whose content the `masked`
 * digest leaves out; `whole`: files it counts whole though they are copied with the hot ones.
 */
export function treeFingerprint(
  path: string,
  maxEntries: number,
  pruned?: string[],
  hot?: string[],
  whole?: string[],
): Promise<TreeFingerprint> | undefined {
  const start = optional('treeFingerprintAsync');
  return (
    start &&
    new Promise((resolve, reject) =>
      start(path, maxEntries, pruned, hot, whole, (err, fp) =>
        err ? reject(err) : resolve(fp as TreeFingerprint),
      ),
    )
  );
}

/**
 * What writing with O_DIRECT needs, when the addon has it: a buffer aligned for the device,
 * and turning the flag on and off on an open descriptor (EINVAL where the filesystem has no
 * direct I/O). Undefined without the addon (or with one built before these existed).
 */
export interface DirectIo {
  alignedBuffer(size: number, alignment: number): Buffer;
  setDirect(fd: number, on: boolean): void;
}

let direct: DirectIo | undefined;

export function directIo(): DirectIo | undefined {
  if (direct !== undefined) return direct;
  const state = load();
  if (!('addon' in state)) return undefined;
  const { alignedBuffer, setDirect } = state.addon;
  if (typeof alignedBuffer !== 'function' || typeof setDirect !== 'function') return undefined;
  direct = {
    alignedBuffer: (size, alignment) => alignedBuffer.call(state.addon, size, alignment),
    setDirect: (fd, on) => setDirect.call(state.addon, fd, on),
  };
  return direct;
}

/**
 * SHA-256 whose state lives in a Buffer, so an update can run on a libuv worker while this
 * thread goes on (one update in flight per state, the data unchanged until its callback).
 * Undefined without the addon, or where Node does not export OpenSSL's SHA-256.
 */
export interface NativeSha256 {
  init(): Buffer;
  update(state: Buffer, data: Uint8Array): void;
  /** `data` in order, on a libuv worker: several chunks go in one trip. */
  updateAsync(state: Buffer, data: Uint8Array | Uint8Array[], callback: (err: Error | null) => void): void;
  final(state: Buffer): Buffer;
}

let sha: NativeSha256 | null | undefined;

export function nativeSha256(): NativeSha256 | undefined {
  if (sha !== undefined) return sha ?? undefined;
  const state = load();
  const a = 'addon' in state ? state.addon : undefined;
  if (
    a === undefined ||
    typeof a.sha256Init !== 'function' ||
    typeof a.sha256Update !== 'function' ||
    typeof a.sha256UpdateAsync !== 'function' ||
    typeof a.sha256Final !== 'function'
  ) {
    sha = null;
    return undefined;
  }
  const { sha256Init, sha256Update, sha256UpdateAsync, sha256Final } = a;
  sha = {
    init: () => sha256Init.call(a),
    update: (st, data) => sha256Update.call(a, st, data),
    updateAsync: (st, data, callback) => sha256UpdateAsync.call(a, st, data, callback),
    final: (st) => sha256Final.call(a, st),
  };
  return sha;
}

/** SHA-256 of `data` in one call (OpenSSL inside Node, through the addon); undefined where
 * nativeSha256() is. */
export function nativeSha256Of(): ((data: Uint8Array) => Buffer) | undefined {
  if (shaOnce === undefined) shaOnce = nativeSha256() === undefined ? null : (optional('sha256') ?? null);
  return shaOnce ?? undefined;
}

let shaOnce: ((data: Uint8Array) => Buffer) | null | undefined;
let fillRandom: ((buffer: Uint8Array) => void) | null | undefined;

/**
 * `bytes` random bytes as hex, for names nobody may guess or repeat (temp files, ids):
 * getrandom(2) through the addon, else node:crypto's randomBytes. node:crypto costs ~3 ms to
 * load, at the start of every command whose modules reach it, for this alone.
 */
export function randomHex(bytes: number): string {
  if (fillRandom === undefined) fillRandom = optional('randomFill') ?? null;
  const fill = fillRandom;
  if (fill === null) return crypto().randomBytes(bytes).toString('hex');
  const buf = Buffer.allocUnsafe(bytes);
  fill(buf);
  return buf.toString('hex');
}

/** True when `err` is a system-call error with this errno name. */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
