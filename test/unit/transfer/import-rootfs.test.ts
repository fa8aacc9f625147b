import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { sha256Of } from '../../../src/digest/digest.js';
import { BuilderError } from '../../../src/errors.js';
import { validateImage } from '../../../src/image/validate-image.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import { hostPlatform } from '../../../src/oci/platform.js';
import { DEFAULT_IMPORT_MESSAGE, importRootfs } from '../../../src/transfer/import-rootfs.js';
import { tarBytes, withStore } from '../../helpers/image-fixtures.js';

describe('importRootfs', () => {
  it('a rootfs tar becomes a single-layer image like docker import', async () => {
    await withStore(async (store) => {
      const tar = await tarBytes([
        { path: 'bin/' },
        { path: 'bin/sh', body: 'not really a shell', mode: 0o755 },
        { path: 'etc/' },
        { path: 'etc/os-release', body: 'ID=test\n' },
      ]);
      const created = new Date('2024-05-06T07:08:09.123Z');
      const image = await importRootfs(store, Readable.from([tar]), {
        name: 'imported:1',
        created,
        config: { Cmd: ['/bin/sh'] },
      });
      await validateImage(store, image);
      assert.deepEqual(image.names, ['docker.io/library/imported:1']);
      assert.deepEqual(image.config.rootfs.diff_ids, [sha256Of(tar)]);
      assert.equal(image.manifest.layers[0]?.mediaType, MediaTypes.ociLayerGzip);
      const platform = hostPlatform();
      assert.equal(image.config.architecture, platform.architecture);
      assert.equal(image.config.os, platform.os);
      assert.equal(image.config.created, '2024-05-06T07:08:09.123Z');
      assert.equal(image.config.comment, DEFAULT_IMPORT_MESSAGE);
      assert.deepEqual(image.config.history, [
        { created: '2024-05-06T07:08:09.123Z', comment: 'Imported from -' },
      ]);
      assert.deepEqual(image.config.config, { Cmd: ['/bin/sh'] });
      assert.equal(await store.images.imageSize(image), tar.length);
    });
  });

  it('reads gzip input, takes a message and a platform', async () => {
    await withStore(async (store) => {
      const tar = await tarBytes([{ path: 'a', body: 'a' }]);
      const image = await importRootfs(store, Readable.from([gzipSync(tar)]), {
        message: 'from CI',
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      });
      assert.deepEqual(image.config.rootfs.diff_ids, [sha256Of(tar)], 'diffID of the decompressed tar');
      assert.equal(image.config.comment, 'from CI');
      assert.equal(image.config.history?.[0]?.comment, 'from CI');
      assert.equal(image.config.architecture, 'arm64');
      assert.equal(image.config.variant, 'v8');
      assert.deepEqual(image.names, []);
    });
  });

  it('refuses input that is not a tar, or is truncated or empty, and records nothing', async () => {
    await withStore(async (store) => {
      const tar = await tarBytes([{ path: 'big', body: 'x'.repeat(5000) }]);
      for (const [input, pattern] of [
        [Buffer.from('this is not a tar archive at all, just text '.repeat(20)), /not a valid tar archive/],
        [tar.subarray(0, 2048), /not a valid tar archive: tar archive is truncated/],
        [Buffer.alloc(0), /empty/],
      ] as const) {
        await assert.rejects(importRootfs(store, Readable.from([input])), (err: unknown) => {
          assert.ok(err instanceof BuilderError, String(err));
          assert.equal(err.code, 'EINVAL');
          assert.match(err.message, pattern);
          return true;
        });
      }
      assert.deepEqual(await store.images.list(), []);
    });
  });
});
