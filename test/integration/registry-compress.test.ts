// Layers stored uncompressed (a build's default) travel gzip-compressed, as docker pushes them;
// the compressed form is remembered so a second push neither reads nor compresses the layer.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { staticKeychain } from '../../src/auth/keychain.js';
import { layerCompression } from '../../src/oci/media-types.js';
import { pullImage } from '../../src/registry/pull.js';
import { pushImage } from '../../src/registry/push.js';
import { Registries } from '../../src/registry/registries.js';
import { checkStore } from '../../src/store/check.js';
import type { StoredImage } from '../../src/store/image-store.js';
import { randomImage, type TempStore, tmpStore, toolMissing } from '../helpers/image-fixtures.js';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { skipIf } from './prereqs.js';

const exec = promisify(execFile);
const missing = registryMissing();
const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

for (const mediaTypes of ['oci', 'docker'] as const) {
  describe(`push of uncompressed ${mediaTypes} layers`, { concurrency: false }, () => {
    let reg: TestRegistry;
    let source: TempStore;
    let image: StoredImage;
    let registries: Registries;
    let firstDigest: string;
    let firstLayers: string[];
    const stores: TempStore[] = [];

    before(async () => {
      if (missing) return;
      reg = await startRegistry('none');
      source = await tmpStore('strata-regc-src-');
      image = await randomImage(source.store, { layers: 3, compression: 'none', mediaTypes });
      registries = new Registries({ keychain: staticKeychain({}) });
    });
    after(async () => {
      registries?.close();
      for (const s of stores) await s.cleanup();
      await source?.cleanup();
      await reg?.stop();
    });

    test('the registry gets gzip layers and a manifest over them; the image ID is the same', async (t) => {
      if (skipIf(t, missing)) return;
      assert.ok(image.manifest.layers.every((l) => layerCompression(l.mediaType) === 'none'));
      const name = `${reg.host}/user/plain:1`;
      await source.store.images.tag(image, name);
      const result = await pushImage(source.store, name, registries);
      assert.notEqual(result.digest, image.manifestDescriptor.digest, 'the manifest was rewritten');
      assert.equal(result.mediaType, image.manifestDescriptor.mediaType);
      const layers = result.blobs.filter((b) => b.kind === 'layer');
      assert.deepEqual(
        layers.map((b) => b.status),
        ['pushed', 'pushed', 'pushed'],
      );
      // Each pushed blob is the gzip of the stored tar: it inflates to the diffID.
      for (const [i, b] of layers.entries()) {
        const blob = await source.store.content.readBytes(b.digest);
        assert.equal(sha256(blob), b.digest);
        assert.equal(sha256(gunzipSync(blob)), image.config.rootfs.diff_ids[i]);
        assert.ok(b.size < (image.manifest.layers[i]?.size ?? 0), 'smaller than the tar');
      }
      firstDigest = result.digest;
      firstLayers = layers.map((b) => b.digest);
      if (toolMissing('skopeo')) return console.warn(`SKIP skopeo check: ${toolMissing('skopeo')}`);
      const { stdout } = await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`]);
      const raw = JSON.parse(stdout) as {
        config: { digest: string };
        layers: { mediaType: string; digest: string }[];
      };
      assert.equal(raw.config.digest, image.id);
      assert.deepEqual(
        raw.layers.map((l) => l.digest),
        firstLayers,
      );
      const gzipType =
        mediaTypes === 'oci'
          ? 'application/vnd.oci.image.layer.v1.tar+gzip'
          : 'application/vnd.docker.image.rootfs.diff.tar.gzip';
      assert.ok(raw.layers.every((l) => l.mediaType === gzipType));
    });

    test('a second push, even after GC dropped the gzip blobs, finds them by HEAD and compresses nothing', async (t) => {
      if (skipIf(t, missing)) return;
      for (const d of firstLayers) await source.store.content.delete(d as never);
      const before = registries.stats().requests;
      const result = await pushImage(source.store, `${reg.host}/user/plain:1`, registries);
      assert.equal(result.digest, firstDigest);
      assert.deepEqual(
        result.blobs.map((b) => b.status),
        ['exists', 'exists', 'exists', 'exists'],
      );
      for (const d of firstLayers)
        assert.equal(await source.store.content.has(d as never), false, 'not rewritten');
      assert.ok(
        registries.stats().requests - before <= 6,
        `${registries.stats().requests - before} requests`,
      );
    });

    test('to a new registry the layers are compressed again, to the same bytes (deterministic)', async (t) => {
      if (skipIf(t, missing)) return;
      const other = await startRegistry('none');
      try {
        const name = `${other.host}/user/plain:1`;
        await source.store.images.tag(image, name);
        const result = await pushImage(source.store, name, registries);
        assert.equal(result.digest, firstDigest);
        assert.deepEqual(
          result.blobs.filter((b) => b.kind === 'layer').map((b) => b.digest),
          firstLayers,
        );
      } finally {
        await other.stop();
      }
    });

    test('it pulls back into an empty store as the same image, which checks clean', async (t) => {
      if (skipIf(t, missing)) return;
      const target = await tmpStore('strata-regc-dst-');
      stores.push(target);
      const pulled = await pullImage(target.store, `${reg.host}/user/plain:1`, registries);
      assert.equal(pulled.image.id, image.id);
      assert.equal(pulled.image.manifestDescriptor.digest, firstDigest);
      assert.ok(pulled.image.manifest.layers.every((l) => layerCompression(l.mediaType) === 'gzip'));
      assert.deepEqual((await checkStore(target.store)).problems, []);
    });

    test('a push by digest sends the stored bytes untouched', async (t) => {
      if (skipIf(t, missing)) return;
      // A digest name (what a pull by digest records): `tag` refuses to make one.
      const name = `${reg.host}/user/exact@${image.manifestDescriptor.digest}`;
      await source.store.meta.names.set(name, image.manifestDescriptor);
      const result = await pushImage(source.store, name, registries);
      assert.equal(result.digest, image.manifestDescriptor.digest);
      assert.deepEqual(
        result.blobs.filter((b) => b.kind === 'layer').map((b) => b.digest),
        image.manifest.layers.map((l) => l.digest),
      );
    });
  });
}
