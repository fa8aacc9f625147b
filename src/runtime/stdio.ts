// The container's stdio as the caller wants it: inherited, ignored, fed to a callback or a
// Writable (with backpressure), and always, when piped, a bounded tail kept for error messages.

import type { ChildProcess, StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Where a container's output goes. Undefined: captured for the tail only. */
export type OutputTarget = 'inherit' | 'ignore' | Writable | ((chunk: Buffer) => void);

export interface RunStdio {
  /** Default 'ignore' (the process reads EOF). */
  stdin?: 'ignore' | 'inherit' | Readable | Uint8Array | string;
  stdout?: OutputTarget;
  stderr?: OutputTarget;
}

/** Keeps the last `limit` bytes written to it. */
export class Tail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit = 64 * 1024) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - (this.chunks[0]?.length ?? 0) >= this.limit && this.chunks.length > 1) {
      this.size -= (this.chunks.shift() as Buffer).length;
    }
  }

  /** The last `lines` lines (a trailing newline does not count as an empty line). */
  text(lines = 20): string {
    let all = Buffer.concat(this.chunks).toString('utf8');
    if (this.size > this.limit) all = all.slice(all.length - this.limit);
    const parts = all.replace(/\n$/, '').split('\n');
    return parts.slice(-lines).join('\n');
  }
}

export function spawnStdio(stdio: RunStdio): StdioOptions {
  const input = stdio.stdin ?? 'ignore';
  const out = (t: OutputTarget | undefined): 'inherit' | 'ignore' | 'pipe' =>
    t === 'inherit' ? 'inherit' : t === 'ignore' ? 'ignore' : 'pipe';
  return [input === 'ignore' || input === 'inherit' ? input : 'pipe', out(stdio.stdout), out(stdio.stderr)];
}

async function drain(stream: Readable, target: OutputTarget | undefined, tail: Tail): Promise<void> {
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    tail.push(buffer);
    if (typeof target === 'function') target(buffer);
    else if (target !== undefined && typeof target === 'object') {
      if (!target.write(buffer)) await once(target, 'drain');
    }
  }
}

/** Wires the child's pipes; resolves once every pipe reached EOF. */
export function connectStdio(
  child: ChildProcess,
  stdio: RunStdio,
  tails: { stdout: Tail; stderr: Tail },
): Promise<void> {
  const tasks: Promise<void>[] = [];
  const input = stdio.stdin;
  if (child.stdin && input !== undefined && input !== 'ignore' && input !== 'inherit') {
    const stdin = child.stdin;
    const fed =
      typeof input === 'string' || input instanceof Uint8Array
        ? new Promise<void>((resolve) => {
            stdin.on('error', () => resolve());
            stdin.end(input, () => resolve());
          })
        : pipeline(input, stdin).catch(() => {
            // The process may exit without reading all of its input (EPIPE): not our failure.
          });
    tasks.push(fed);
  }
  if (child.stdout) tasks.push(drain(child.stdout, stdio.stdout, tails.stdout));
  if (child.stderr) tasks.push(drain(child.stderr, stdio.stderr, tails.stderr));
  return Promise.all(tasks).then(() => undefined);
}
