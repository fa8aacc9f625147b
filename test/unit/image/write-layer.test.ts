import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { encodeEntryHeader } from '../../../src/archive/tar-writer.js';
import { sha256Of } from '../../../src/digest/digest.js';
import { writeLayer } from '../../../src/image/write-layer.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import { tarBytes, withStore } from '../../helpers/image-fixtures.js';

describe('writeLayer', () => {
  it('gzip: diffID is the tar, digest and size the stored blob, OCI or Docker media type', async () => {
    await withStore(async (store) => {
      const tar = await tarBytes([{ path: 'etc/' }, { path: 'etc/hosts', body: '127.0.0.1 localhost\n' }]);
      const layer = await writeLayer(store.content, Readable.from([tar]));
      assert.equal(layer.diffId, sha256Of(tar));
      assert.equal(layer.uncompressedSize, tar.length);
      assert.equal(layer.descriptor.mediaType, MediaTypes.ociLayerGzip);
      const blob = Buffer.from(await store.content.readBytes(layer.descriptor.digest));
      assert.equal(blob.length, layer.descriptor.size);
      assert.deepEqual(gunzipSync(blob), tar);

      const docker = await writeLayer(store.content, Readable.from([tar]), {
        mediaTypes: 'docker',
        level: 9,
      });
      assert.equal(docker.descriptor.mediaType, MediaTypes.dockerLayerGzip);
      assert.equal(docker.diffId, layer.diffId);
    });
  });

  it("compression 'none' stores the tar itself (digest = diffID) and reports the size to recordLayer", async () => {
    await withStore(async (store) => {
      const tar = await tarBytes([{ path: 'a.txt', body: 'a' }]);
      const recorded: Array<[string, number]> = [];
      const layer = await writeLayer(store.content, Readable.from([tar]), {
        compression: 'none',
        recordLayer: async (diffId, size) => {
          recorded.push([diffId, size]);
        },
      });
      assert.equal(layer.descriptor.digest, layer.diffId);
      assert.equal(layer.descriptor.mediaType, MediaTypes.ociLayer);
      assert.equal(layer.descriptor.size, tar.length);
      assert.deepEqual(recorded, [[layer.diffId, tar.length]]);
    });
  });

  it('streams a large layer in one pass with flat memory', async () => {
    await withStore(async (store) => {
      const size = 96 * 1024 * 1024;
      const header = encodeEntryHeader({
        path: 'big.bin',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size,
        mtime: 0,
      });
      const chunk = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
      const hash = createHash('sha256');
      async function* source() {
        yield header;
        hash.update(header);
        for (let sent = 0; sent < size; sent += chunk.length) {
          hash.update(chunk);
          yield chunk;
        }
        const end = Buffer.alloc(1024);
        hash.update(end);
        yield end;
      }
      global.gc?.();
      const before = process.memoryUsage().rss;
      let peak = before;
      const timer = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 20);
      try {
        const layer = await writeLayer(store.content, Readable.from(source()), { level: 1 });
        assert.equal(layer.uncompressedSize, header.length + size + 1024);
        assert.equal(layer.diffId, `sha256:${hash.digest('hex')}`);
      } finally {
        clearInterval(timer);
      }
      assert.ok(peak - before < 64 * 1024 * 1024, `memory grew by ${Math.round((peak - before) / 1e6)} MB`);
    });
  });

  it('a failing source leaves no blob and no temp file', async () => {
    await withStore(async (store) => {
      async function* broken() {
        yield Buffer.alloc(10_000, 1);
        throw new Error('disk read failed');
      }
      await assert.rejects(writeLayer(store.content, Readable.from(broken())), /disk read failed/);
      let blobs = 0;
      for await (const _ of store.content.walk()) blobs++;
      assert.equal(blobs, 0);
      assert.deepEqual(await readdir(store.content.ingestDir).catch(() => []), []);
    });
  });

  it('an aborted write is ECANCELED and leaves nothing', async () => {
    await withStore(async (store) => {
      const controller = new AbortController();
      async function* slow() {
        yield Buffer.alloc(512);
        controller.abort();
        await new Promise((r) => setTimeout(r, 50));
        yield Buffer.alloc(512);
      }
      await assert.rejects(writeLayer(store.content, Readable.from(slow()), { signal: controller.signal }));
      let blobs = 0;
      for await (const _ of store.content.walk()) blobs++;
      assert.equal(blobs, 0);
    });
  });
});
