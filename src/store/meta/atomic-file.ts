// Crash-safe replacement of small files: write a temp file (O_EXCL), fsync it, rename it over
// the target, fsync the target's directory. A crash leaves either the old or the new content,
// never a mix; readers never see a partial file.

import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { randomHex } from '../../sys/index.js';
import { fsyncDirectorySync } from '../content/fs-content-store.js';

export interface AtomicWriteOptions {
  /** Where the temp file is made; must be on the same filesystem. Default: the target's directory. */
  tempDir?: string;
  mode?: number;
  /** Default true. False skips the fsyncs: for a cache whose loss or old content costs only a
   * recompute (readers must take a torn or empty file as absent); the rename stays atomic. */
  durable?: boolean;
}

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Writes `data` to `path` crash-safely. Synchronous: the writes callers wait for (an image
 * record, a tag) are a few hundred bytes, where each awaited step was a thread-pool round trip
 * (nine of them).
 */
export function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): void {
  const dir = dirname(path);
  const tempDir = options.tempDir ?? dir;
  const temp = join(tempDir, `.tmp-${process.pid}-${randomHex(8)}`);
  let fd: number;
  try {
    fd = openSync(temp, 'wx', options.mode ?? 0o644);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
    mkdirSync(tempDir, { recursive: true });
    fd = openSync(temp, 'wx', options.mode ?? 0o644);
  }
  let renamed = false;
  try {
    try {
      writeFileSync(fd, data);
      if (options.durable !== false) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(temp, path);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
      mkdirSync(dir, { recursive: true });
      renameSync(temp, path);
    }
    renamed = true;
    if (options.durable !== false) fsyncDirectorySync(dir);
  } finally {
    if (!renamed) rmSync(temp, { force: true });
  }
}

/**
 * The file's text, or undefined when it does not exist. Reads synchronously: records are small
 * and in the page cache, where fs.promises.readFile costs four thread-pool round trips (open,
 * fstat, read, close; ~50 µs each here) and a no-op build reads a dozen of them.
 */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}
