// An exclusive lock between processes (and between async tasks of one process), for
// read-modify-write operations on metadata and for GC. Not reentrant.
//
// The lock is a file created with O_EXCL ("wx") holding {pid, hostname, pidns, token,
// acquiredAt}. While held, its mtime is refreshed every staleMs/3 (heartbeat). A lock is stale
// when its mtime is older than staleMs, or when it was taken on this host, in this PID
// namespace, by a process that no longer exists. A stale lock is broken under a second,
// short-lived O_EXCL file (`<lock>.break`), and only if it is still the same file (inode and
// mtime) that was judged stale, so two waiters cannot both break it and then delete each
// other's fresh lock. Release removes the lock only if it still carries our token.

import { closeSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuilderError } from '../../errors.js';
import { randomHex } from '../../sys/index.js';
import { errnoOf } from './atomic-file.js';

export interface LockOptions {
  /** A lock whose heartbeat is older than this is broken. Default 30 s. */
  staleMs?: number;
  /** Give up (EUNAVAILABLE) after waiting this long. Default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface FileLock {
  readonly path: string;
  /** True if someone broke the lock while we held it (our heartbeat stopped for too long). */
  readonly lost: boolean;
  release(): Promise<void>;
}

interface LockInfo {
  pid: number;
  hostname: string;
  pidns?: string;
  token: string;
  acquiredAt: string;
}

export const DEFAULT_LOCK_STALE_MS = 30_000;
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

let pidNamespace: string | undefined | null = null;
function currentPidNamespace(): string | undefined {
  if (pidNamespace === null) {
    try {
      pidNamespace = readlinkSync('/proc/self/ns/pid');
    } catch {
      pidNamespace = undefined;
    }
  }
  return pidNamespace;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
}

// The lock file's own reads and writes are synchronous: a few bytes in the page cache, where
// each awaited fs call is a thread-pool round trip (~50 µs here) and an uncontended lock took
// nine of them.
function readInfo(path: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return typeof info === 'object' && info !== null && typeof info.token === 'string' ? info : undefined;
  } catch {
    return undefined; // missing, or created but not yet written
  }
}

function ownerGone(info: LockInfo | undefined): boolean {
  if (info === undefined || typeof info.pid !== 'number') return false;
  const ns = currentPidNamespace();
  if (info.hostname !== hostname() || ns === undefined || info.pidns !== ns) return false;
  return !processAlive(info.pid);
}

/** Breaks `path` if it is stale. True when the caller should retry at once. */
async function breakIfStale(path: string, staleMs: number): Promise<boolean> {
  let before: Awaited<ReturnType<typeof stat>>;
  try {
    before = await stat(path);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return true;
    throw err;
  }
  const expired = Date.now() - before.mtimeMs > staleMs;
  if (!expired && !ownerGone(readInfo(path))) return false;

  const breaker = `${path}.break`;
  let guard: Awaited<ReturnType<typeof open>>;
  try {
    guard = await open(breaker, 'wx');
  } catch (err) {
    if (errnoOf(err) !== 'EEXIST') throw err;
    // Someone else is breaking it. A breaker that died mid-way leaves an old .break: clear it.
    try {
      const st = await stat(breaker);
      if (Date.now() - st.mtimeMs > staleMs) await rm(breaker, { force: true });
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
    return false;
  }
  try {
    let now: Awaited<ReturnType<typeof stat>>;
    try {
      now = await stat(path);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return true;
      throw err;
    }
    if (now.ino !== before.ino || now.mtimeMs !== before.mtimeMs) return false; // re-judge next round
    await rm(path, { force: true });
    return true;
  } finally {
    await guard.close().catch(() => {});
    await rm(breaker, { force: true }).catch(() => {});
  }
}

function canceled(path: string, cause: unknown): BuilderError {
  return new BuilderError('ECANCELED', `waiting for lock ${path}: canceled`, { cause });
}

export async function acquireFileLock(path: string, options: LockOptions = {}): Promise<FileLock> {
  const staleMs = options.staleMs ?? DEFAULT_LOCK_STALE_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const { signal } = options;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    if (signal?.aborted) throw canceled(path, signal.reason);
    const info: LockInfo = {
      pid: process.pid,
      hostname: hostname(),
      token: randomHex(16),
      acquiredAt: new Date().toISOString(),
    };
    const ns = currentPidNamespace();
    if (ns !== undefined) info.pidns = ns;
    let fd: number | undefined;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') {
        await mkdir(dirname(path), { recursive: true });
        continue;
      }
      if (code !== 'EEXIST') throw err;
    }
    if (fd !== undefined) {
      try {
        writeFileSync(fd, JSON.stringify(info));
      } finally {
        closeSync(fd);
      }
      return new HeldLock(path, info.token, staleMs);
    }
    if (await breakIfStale(path, staleMs)) continue;
    if (Date.now() >= deadline) {
      const holder = readInfo(path);
      throw new BuilderError(
        'EUNAVAILABLE',
        `timed out after ${timeoutMs} ms waiting for lock ${path}` +
          (holder === undefined
            ? ''
            : ` (held by pid ${holder.pid} on ${holder.hostname} since ${holder.acquiredAt})`),
        {
          hint: 'another strata process is working on this store; if none is, the lock clears itself after it goes stale',
        },
      );
    }
    try {
      await sleep(
        delay + Math.floor(Math.random() * delay),
        undefined,
        signal === undefined ? {} : { signal },
      );
    } catch (err) {
      throw canceled(path, err);
    }
    delay = Math.min(delay * 2, 200);
  }
}

class HeldLock implements FileLock {
  readonly path: string;
  readonly #token: string;
  #timer: NodeJS.Timeout | undefined;
  #lost = false;
  #released = false;

  constructor(path: string, token: string, staleMs: number) {
    this.path = path;
    this.#token = token;
    this.#timer = setInterval(() => void this.#beat(), Math.max(10, Math.floor(staleMs / 3)));
    this.#timer.unref();
  }

  get lost(): boolean {
    return this.#lost;
  }

  async #beat(): Promise<void> {
    if (this.#released || this.#lost) return;
    const info = readInfo(this.path);
    if (info?.token !== this.#token) {
      this.#lost = true; // broken by someone who judged us stale; do not keep their lock alive
      clearInterval(this.#timer);
      return;
    }
    const now = new Date();
    await utimes(this.path, now, now).catch(() => {
      this.#lost = true;
    });
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    const info = readInfo(this.path);
    if (info?.token === this.#token) {
      rmSync(this.path, { force: true });
    } else {
      this.#lost = true;
    }
  }
}

/** Runs `fn` while holding the lock at `path`; always releases it. */
export async function withFileLock<T>(
  path: string,
  fn: (lock: FileLock) => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const lock = await acquireFileLock(path, options);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
