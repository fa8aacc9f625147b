// A child process for test/unit/store/image-concurrency.test.ts. First IPC message:
//   {mode: 'builder', root, name, images}  write layers (some with the content of old, aged,
//        unreferenced blobs; one shared by every builder), put an image, tag it, remove every
//        third tag again; report the names it left.
//   {mode: 'pruner', root, rounds}  prune dangling images and collect garbage (default grace),
//        and rmi every `victim:*` name, over and over.
// Both wait for {go: true} so the processes overlap. Replies {done: report} or {error}.

import { Readable } from 'node:stream';
import { isBuilderError } from '../../src/errors.js';
import { writeLayer } from '../../src/image/write-layer.js';
import { collectGarbage, pruneImages } from '../../src/store/gc.js';
import { Store } from '../../src/store/store.js';
import { configFor, type LayerInfo, tarBytes } from './image-fixtures.js';
import { oldLayerFiles, type WorkerReport } from './image-race-data.js';

interface BuilderRequest {
  mode: 'builder';
  root: string;
  name: string;
  images: number;
}

interface PrunerRequest {
  mode: 'pruner';
  root: string;
  rounds: number;
}

function send(message: unknown): Promise<void> {
  return new Promise((resolve, reject) =>
    process.send!(message, (err: Error | null) => (err ? reject(err) : resolve())),
  );
}

function next(): Promise<Record<string, unknown>> {
  return new Promise((resolve) => process.once('message', (m) => resolve(m as Record<string, unknown>)));
}

async function builder(req: BuilderRequest): Promise<WorkerReport> {
  const store = await Store.open(req.root, { lockOptions: { staleMs: 10_000, timeoutMs: 60_000 } });
  const report: WorkerReport = { names: [], retries: 0, collected: 0 };
  for (let i = 0; i < req.images; i++) {
    for (let attempt = 0; ; attempt++) {
      try {
        const layers: LayerInfo[] = [];
        const write = async (files: Parameters<typeof tarBytes>[0]) =>
          writeLayer(store.content, Readable.from([await tarBytes(files)]), {
            recordLayer: (d, n) => store.images.recordLayer(d, n),
          });
        layers.push(await write(oldLayerFiles(i % 4)));
        layers.push(
          await write([{ path: 'shared.txt', body: 'every builder writes this blob\n'.repeat(100) }]),
        );
        layers.push(await write([{ path: `${req.name}-${i}.txt`, body: `${req.name} ${i} ${attempt}\n` }]));
        const image = await store.images.put(
          configFor(layers, { author: `${req.name}/${i}` }),
          layers.map((l) => l.descriptor),
        );
        const name = `docker.io/library/${req.name}:${i}`;
        await store.images.tag(image, name);
        report.names.push(name);
        if (i % 3 === 2) {
          const previous = `docker.io/library/${req.name}:${i - 1}`;
          await store.images.remove(previous);
          report.names = report.names.filter((n) => n !== previous);
        }
        break;
      } catch (err) {
        // A blob swept in the few microseconds between GC's last look and its unlink makes put
        // fail cleanly (ENOTFOUND); building again is the caller's remedy.
        if (!isBuilderError(err) || err.code !== 'ENOTFOUND' || attempt > 3) throw err;
        report.retries++;
      }
    }
  }
  return report;
}

async function pruner(req: PrunerRequest): Promise<WorkerReport> {
  const store = await Store.open(req.root, { lockOptions: { staleMs: 10_000, timeoutMs: 60_000 } });
  const report: WorkerReport = { names: [], retries: 0, collected: 0 };
  for (let round = 0; round < req.rounds; round++) {
    for (const image of await store.images.list()) {
      for (const name of image.names) {
        if (name.startsWith('docker.io/library/victim:'))
          await store.images.remove(name).catch(() => undefined);
      }
    }
    await pruneImages(store);
    const gc = await collectGarbage(store);
    report.collected += gc.removedBlobs.length;
  }
  return report;
}

const request = (await next()) as unknown as BuilderRequest | PrunerRequest;
await send({ ready: true });
await next(); // go
try {
  const report = request.mode === 'builder' ? await builder(request) : await pruner(request);
  await send({ done: report });
} catch (err) {
  await send({ error: (err as Error).stack ?? String(err) });
}
process.disconnect();
