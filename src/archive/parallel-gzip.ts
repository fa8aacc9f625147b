// gzip on every core: the input is cut into fixed-size blocks, each compressed as a gzip member
// of its own on libuv's thread pool (zlib's async API), and the members are written in order.
// A multi-member gzip file is standard (RFC 1952 §2.2): gunzip, Go's gzip reader (containerd,
// BuildKit, docker), skopeo and umoci all read it as one stream. Output depends only on the
// input, the level and the block size, so layers stay reproducible. Memory: at most
// `inflight` blocks in and out.
//
// Incompressible blocks (already compressed files, random data) are stored, not deflated:
// level 6 spends ~25 ms of CPU per MiB of random data to save nothing. Samples of the block are
// deflated at level 1 first; only when every sample stays within 3% of its size is the member
// written at level 0 (stored blocks, 5 bytes per 64 KiB). The decision depends on the input
// alone, so output stays reproducible.

import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import type { ZlibOptions } from 'node:zlib';
import { zlib } from '../sys/lazy-builtins.js';

const gzipAsync = (buf: Buffer, options: ZlibOptions): Promise<Buffer> =>
  promisify(zlib().gzip)(buf, options);
const deflateRawAsync = (buf: Buffer, options: ZlibOptions): Promise<Buffer> =>
  promisify(zlib().deflateRaw)(buf, options);

const SAMPLE_SIZE = 16 * 1024;
const SAMPLES = 4;
/** A sample that level 1 cannot shrink below 97% of its size counts as incompressible. */
const INCOMPRESSIBLE_RATIO = 0.97;

/** Whether deflate would gain (almost) nothing on `block`, judged from samples spread over it. */
async function incompressible(block: Buffer): Promise<boolean> {
  if (block.length < SAMPLE_SIZE * SAMPLES) return false;
  const step = Math.floor((block.length - SAMPLE_SIZE) / (SAMPLES - 1));
  for (let i = 0; i < SAMPLES; i++) {
    const sample = block.subarray(i * step, i * step + SAMPLE_SIZE);
    const out = await deflateRawAsync(sample, { level: 1 });
    if (out.length < sample.length * INCOMPRESSIBLE_RATIO) return false;
  }
  return true;
}

/** One gzip member for `block`: stored when deflate cannot gain, else at `level`. */
async function gzipMember(block: Buffer, level: number): Promise<Buffer> {
  if (level > 0 && (await incompressible(block))) return gzipAsync(block, { level: 0 });
  return gzipAsync(block, { level });
}

/** 1 MiB: per-member overhead and matches lost at block edges cost well under 1% of size. */
export const GZIP_BLOCK_SIZE = 1 << 20;

export class ParallelGzip extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inflight: Promise<Buffer>[] = [];
  private wroteAny = false;

  constructor(
    private readonly level: number,
    private readonly blockSize = GZIP_BLOCK_SIZE,
    private readonly maxInflight = 3,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.cutBlocks(false).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.cutBlocks(true)
      .then(async () => {
        while (this.inflight.length > 0) this.emit1(await (this.inflight.shift() as Promise<Buffer>));
        // Even an empty input is a valid gzip stream of one (empty) member.
        if (!this.wroteAny) this.emit1(await gzipAsync(Buffer.alloc(0), { level: this.level }));
        callback();
      })
      .catch(callback);
  }

  private emit1(member: Buffer): void {
    this.wroteAny = true;
    this.push(member);
  }

  private async cutBlocks(final: boolean): Promise<void> {
    while (this.pendingBytes >= this.blockSize || (final && this.pendingBytes > 0)) {
      const all =
        this.pending.length === 1
          ? (this.pending[0] as Buffer)
          : Buffer.concat(this.pending, this.pendingBytes);
      const block = all.subarray(0, Math.min(this.blockSize, all.length));
      const rest = all.subarray(block.length);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      const member = gzipMember(block, this.level);
      member.catch(() => {}); // awaited in order below; avoid an unhandled rejection meanwhile
      this.inflight.push(member);
      while (this.inflight.length >= this.maxInflight)
        this.emit1(await (this.inflight.shift() as Promise<Buffer>));
    }
  }
}
