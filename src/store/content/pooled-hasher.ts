// SHA-256 off the main thread: a HashTap hasher that runs OpenSSL's SHA-256 (through our
// addon) on a libuv worker, one chunk at a time and in order, while the main thread reads,
// tars and writes the next ones. A 100 MB layer's hashing (~75 ms here) then overlaps the
// rest instead of adding to it. Chunks wait in a queue of at most QUEUE_LIMIT bytes; beyond
// it the tap holds its chunk back (backpressure). Small chunks with nothing queued are hashed
// on the spot: a worker round trip costs more than hashing them.

import { holdBlock, releaseBlock } from '../../archive/block-pool.js';
import type { StreamHasher } from '../../digest/hash-tap.js';
import { type NativeSha256, nativeSha256 } from '../../sys/index.js';

const QUEUE_LIMIT = 8 << 20;
const INLINE_BELOW = 64 << 10;

export class PooledSha256 implements StreamHasher {
  readonly #sha: NativeSha256;
  readonly #state: Buffer;
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  #busy = false;
  #error: Error | undefined;
  /** Called whenever a chunk is hashed (a held-back push, the end). */
  #waiter: (() => void) | undefined;

  constructor(sha: NativeSha256) {
    this.#sha = sha;
    this.#state = sha.init();
  }

  push(chunk: Uint8Array, ready: (err?: Error) => void): void {
    if (this.#error) {
      ready(this.#error);
      return;
    }
    if (!this.#busy && chunk.byteLength < INLINE_BELOW) {
      this.#sha.update(this.#state, chunk);
      ready();
      return;
    }
    holdBlock(chunk);
    this.#queue.push(chunk);
    this.#queued += chunk.byteLength;
    this.#pump();
    if (this.#queued <= QUEUE_LIMIT) {
      ready();
      return;
    }
    this.#waiter = () => {
      if (this.#error || this.#queued <= QUEUE_LIMIT) {
        this.#waiter = undefined;
        ready(this.#error);
      }
    };
  }

  end(done: (err: Error | null, hex?: string) => void): void {
    const finish = (): void => {
      if (this.#error) done(this.#error);
      else done(null, this.#sha.final(this.#state).toString('hex'));
    };
    if (!this.#busy) {
      finish();
      return;
    }
    this.#waiter = () => {
      if (this.#error || !this.#busy) {
        this.#waiter = undefined;
        finish();
      }
    };
  }

  #pump(): void {
    if (this.#busy || this.#queue.length === 0) return;
    // Everything queued goes in one job: the worker does not wait for this thread (busy with
    // the next tar block) between chunks. A 100 MB layer's hashing is its write's critical path.
    const chunks = this.#queue.splice(0);
    this.#busy = true;
    this.#sha.updateAsync(this.#state, chunks, (err) => {
      this.#busy = false;
      for (const chunk of chunks) {
        this.#queued -= chunk.byteLength;
        releaseBlock(chunk);
      }
      if (err) this.#error = err;
      else this.#pump();
      this.#waiter?.();
    });
  }
}

/** A hasher for one blob: on a worker where the addon can, else undefined (hash in line). */
export function pooledSha256(): PooledSha256 | undefined {
  const sha = nativeSha256();
  return sha === undefined ? undefined : new PooledSha256(sha);
}
