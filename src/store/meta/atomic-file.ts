// Crash-safe replacement of small files: write a temp file (O_EXCL), fsync it, rename it over
// the target, fsync the target's directory. A crash leaves either the old or the new content,
// never a mix; readers never see a partial file.

import { readFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomHex } from '../../sys/index.js';
import { fsyncDirectory } from '../content/fs-content-store.js';

export interface AtomicWriteOptions {
  /** Where the temp file is made; must be on the same filesystem. Default: the target's directory. */
  tempDir?: string;
  mode?: number;
}

export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const tempDir = options.tempDir ?? dir;
  const temp = join(tempDir, `.tmp-${process.pid}-${randomHex(8)}`);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(temp, 'wx', options.mode ?? 0o644);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
    await mkdir(tempDir, { recursive: true });
    fh = await open(temp, 'wx', options.mode ?? 0o644);
  }
  let renamed = false;
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(temp, path);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      await rename(temp, path);
    }
    renamed = true;
    await fsyncDirectory(dir);
  } finally {
    if (!renamed) await rm(temp, { force: true }).catch(() => {});
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
