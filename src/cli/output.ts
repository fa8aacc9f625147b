// A command's stdout and stderr, without process.stdout/stderr where they are not needed:
// making one costs 1.5-3.5 ms at every start (for a pipe Node loads net and tty and makes a
// socket), which a build that prints one line paid for nothing. A pipe, a file, a socket or
// /dev/null is written to directly and synchronously, as Node itself writes to files and, on
// Linux, to pipes; a terminal (or anything else) gets Node's stream, with its size and its
// 'resize' events.

import { fstatSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { stream } from '../sys/lazy-builtins.js';

export type Output = Writable & { isTTY?: boolean; columns?: number };

/** Writes all of `data` to `fd`, waiting out EAGAIN (a non-blocking pipe whose reader lags). */
function writeAllSync(fd: number, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  for (let done = 0; done < bytes.byteLength; ) {
    try {
      done += writeSync(fd, bytes, done, bytes.byteLength - done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** No terminal for sure: a pipe, a file, a socket, or one of the memory devices (/dev/null). */
function plain(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isFile() || st.isSocket() || (st.isCharacterDevice() && st.rdev >> 8 === 1);
  } catch {
    return false;
  }
}

const nodeStream = (fd: 1 | 2): Output => (fd === 1 ? process.stdout : process.stderr);

/** Text to fd 1 or 2, now: for what the CLI shell prints itself (help, version, errors). */
export function print(fd: 1 | 2, text: string): void {
  if (plain(fd)) writeAllSync(fd, text);
  else nodeStream(fd).write(text);
}

/** The Writable a command writes fd 1 or 2 through. */
export function output(fd: 1 | 2): Output {
  if (!plain(fd)) return nodeStream(fd);
  const out = new (stream().Writable)({
    write(chunk: Buffer, _encoding, callback) {
      try {
        writeAllSync(fd, chunk);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  }) as Output;
  out.isTTY = false;
  return out;
}
