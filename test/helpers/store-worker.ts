// A child process for the multi-process store tests (test/unit/store/concurrency.test.ts).
// Modes (first message from the parent, via IPC):
//   {mode: 'race', root, blobs, counter, seed}  write shared blobs, names, cache entries and
//        bump a counter under the names lock; wait for {go: true} first so workers overlap.
//   {mode: 'hang-ingest', root}   start writing a big blob, report 'ingesting', never finish.
//   {mode: 'hold-lock', root}     take the gc lock, report 'locked', never release.

import { join } from 'node:path';
import { Readable } from 'node:stream';
import { sha256Of } from '../../src/digest/digest.js';
import { MediaTypes } from '../../src/oci/media-types.js';
import { FsContentStore } from '../../src/store/content/fs-content-store.js';
import { FsMetaStore } from '../../src/store/meta/meta-store.js';
import { type RaceReport, sharedBlob } from './store-race-data.js';

interface RaceRequest {
  mode: 'race';
  root: string;
  blobs: number;
  counter: number;
  seed: number;
}

type Request = RaceRequest | { mode: 'hang-ingest'; root: string } | { mode: 'hold-lock'; root: string };

function shuffled(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function send(message: unknown): Promise<void> {
  return new Promise((resolve, reject) =>
    process.send!(message, (err: Error | null) => (err ? reject(err) : resolve())),
  );
}

function nextMessage(): Promise<Record<string, unknown>> {
  return new Promise((resolve) => process.once('message', (m) => resolve(m as Record<string, unknown>)));
}

async function race(req: RaceRequest): Promise<RaceReport> {
  const content = new FsContentStore(join(req.root, 'content'));
  const meta = new FsMetaStore(join(req.root, 'meta'), {
    lockOptions: { staleMs: 10_000, timeoutMs: 30_000 },
  });
  await send('ready');
  await nextMessage(); // go
  let created = 0;
  let written = 0;
  const order = shuffled(req.blobs, req.seed);
  // Blobs in parallel batches, half with an expected digest, chunked unevenly.
  for (let b = 0; b < order.length; b += 4) {
    const batch = order.slice(b, b + 4);
    const results = await Promise.all(
      batch.map((i) => {
        const bytes = sharedBlob(i);
        const chunks = [bytes.subarray(0, bytes.length >> 1), bytes.subarray(bytes.length >> 1)];
        return content.write(
          Readable.from(chunks),
          (i + req.seed) % 2 === 0 ? { expectedDigest: sha256Of(bytes), expectedSize: bytes.length } : {},
        );
      }),
    );
    for (const r of results) {
      written++;
      if (r.created) created++;
    }
  }
  // Names: both workers point the same names at different blobs; the last rename wins.
  for (const i of order) {
    const bytes = sharedBlob(i);
    await meta.names.set(`example.com/race/n${i % 10}:latest`, {
      mediaType: MediaTypes.ociManifest,
      digest: sha256Of(bytes),
      size: bytes.length,
      annotations: { worker: String(req.seed) },
    });
    await meta.cacheIndex.put(`key-${i}`, { worker: req.seed, digest: sha256Of(bytes) });
  }
  // A read-modify-write counter: exact only if the lock excludes the other process.
  for (let n = 0; n < req.counter; n++) {
    await meta.names.update('example.com/race/counter:latest', (current) => {
      const value = Number(current?.target.annotations?.n ?? '0') + 1;
      return {
        target: {
          mediaType: MediaTypes.ociManifest,
          digest: sha256Of('counter'),
          size: 7,
          annotations: { n: String(value) },
        },
      };
    });
  }
  return { created, written, worker: req.seed };
}

async function hangIngest(root: string): Promise<never> {
  const content = new FsContentStore(join(root, 'content'));
  const big = Buffer.alloc(1 << 20, 9);
  const source = Readable.from(
    (async function* () {
      yield big;
      await send('ingesting');
      await new Promise(() => {}); // never ends; the parent kills us
    })(),
  );
  await content.write(source, { expectedDigest: sha256Of(Buffer.concat([big, big])) });
  throw new Error('unreachable');
}

async function holdLock(root: string): Promise<never> {
  const meta = new FsMetaStore(join(root, 'meta'));
  await meta.acquireLock('gc', { staleMs: 600_000 });
  await send('locked');
  return new Promise(() => {});
}

const request = (await nextMessage()) as unknown as Request;
if (request.mode !== 'race') setInterval(() => {}, 60_000); // stay alive until killed
try {
  if (request.mode === 'race') {
    await send({ report: await race(request) });
    process.disconnect();
  } else if (request.mode === 'hang-ingest') {
    await hangIngest(request.root);
  } else {
    await holdLock(request.root);
  }
} catch (err) {
  await send({ error: String((err as Error).stack ?? err) });
  process.exitCode = 1;
  process.disconnect();
}
