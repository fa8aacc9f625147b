// The tar writer's 1 MiB output blocks, used again once nobody needs them. Fresh memory is
// slow on these machines (first-touch page faults), and V8 collects garbage as external
// memory grows: a 100 MB layer written through new blocks cost ~50 ms more per build than
// through recycled ones (bigctx edit, writeLayer 307 → 258 ms).
//
// A block counts its holders: takeBlock() gives it with one (the tar writer's, passed on with
// the block); a consumer that keeps it beyond that (the hasher's queue) adds one with
// holdBlock() and drops it with releaseBlock(); at zero it goes back to the pool. Only the last
// consumer of a stream may drop the count the block came with: the content store's write does,
// and only recycled blocks reach it from a tar that is written straight into the store (a layer
// stored uncompressed), which nothing else reads. Any other chunk is not counted, and holding
// or releasing it does nothing.

import { directIo } from '../sys/index.js';

export const OUT_BLOCK = 1 << 20;
/** Alignment of blocks made where the native addon is: what O_DIRECT writes need. */
export const DIRECT_ALIGN = 4096;

/** Blocks kept for reuse: the hash queue (8 MiB) and the store's batch in flight fit. */
const MAX_FREE = 24;

const holders = new WeakMap<ArrayBufferLike, number>();
const free: Buffer[] = [];
/** Blocks whose memory is aligned for O_DIRECT: the store writes them as they are, uncopied. */
const aligned = new WeakSet<ArrayBufferLike>();

function newBlock(): Buffer {
  const io = directIo();
  if (io === undefined) return Buffer.allocUnsafeSlow(OUT_BLOCK);
  const block = io.alignedBuffer(OUT_BLOCK, DIRECT_ALIGN);
  aligned.add(block.buffer);
  return block;
}

/** True when `chunk` starts a pool block aligned for O_DIRECT (its length is the caller's to check). */
export function isAlignedBlock(chunk: Uint8Array): boolean {
  return chunk.byteOffset === 0 && aligned.has(chunk.buffer);
}

/** A 1 MiB block with one holder: the caller. */
export function takeBlock(): Buffer {
  const block = free.pop() ?? newBlock();
  holders.set(block.buffer, 1);
  return block;
}

/** One more holder of the block `chunk` is a view of (none for other memory). */
export function holdBlock(chunk: Uint8Array): void {
  const n = holders.get(chunk.buffer);
  if (n !== undefined) holders.set(chunk.buffer, n + 1);
}

/** One holder less; the last one puts the block back. */
export function releaseBlock(chunk: Uint8Array): void {
  const n = holders.get(chunk.buffer);
  if (n === undefined) return;
  if (n > 1) {
    holders.set(chunk.buffer, n - 1);
    return;
  }
  holders.delete(chunk.buffer);
  if (free.length < MAX_FREE) free.push(Buffer.from(chunk.buffer, 0, OUT_BLOCK));
}
