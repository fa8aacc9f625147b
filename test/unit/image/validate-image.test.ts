import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { imageProblems, validateImage } from '../../../src/image/validate-image.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import { descriptorOf, serializeConfig, serializeManifest } from '../../../src/oci/serialize.js';
import type { Descriptor, ImageConfig, Manifest } from '../../../src/oci/types.js';
import type { Store } from '../../../src/store/store.js';
import { addLayer, configFor, randomImage, withStore } from '../../helpers/image-fixtures.js';

async function rawImage(
  store: Store,
  manifest: Manifest,
  config: ImageConfig,
): Promise<{ manifestDescriptor: Descriptor }> {
  const configBytes = serializeConfig(config);
  await store.content.writeBytes(configBytes);
  manifest.config = { ...manifest.config, ...descriptorOf(configBytes, manifest.config.mediaType) };
  const bytes = serializeManifest(manifest);
  await store.content.writeBytes(bytes);
  return { manifestDescriptor: descriptorOf(bytes, manifest.mediaType ?? MediaTypes.ociManifest) };
}

describe('validateImage', () => {
  it('accepts what put writes, OCI and Docker, gzip and uncompressed', async () => {
    await withStore(async (store) => {
      for (const options of [{}, { mediaTypes: 'docker' as const }, { compression: 'none' as const }]) {
        const image = await randomImage(store, { layers: 2, ...options });
        assert.deepEqual(await imageProblems(store, image), []);
        await validateImage(store, image);
      }
    });
  });

  it('reports wrong diff_ids, counts, sizes, history and mixed media types', async () => {
    await withStore(async (store) => {
      const a = await addLayer(store, [{ path: 'a', body: 'a' }]);
      const b = await addLayer(store, [{ path: 'b', body: 'b' }]);
      const config = configFor([a, b]);
      config.rootfs.diff_ids = [b.diffId, a.diffId];
      config.history = config.history?.slice(1);
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.dockerConfig, digest: a.diffId, size: 0 },
        layers: [a.descriptor, { ...b.descriptor, size: b.descriptor.size + 1 }],
      };
      const image = await rawImage(store, manifest, config);
      const problems = await imageProblems(store, image);
      assert.ok(
        problems.some((p) => /config media type .* in a OCI manifest/.test(p)),
        problems.join('\n'),
      );
      assert.ok(problems.some((p) => /history has 1 non-empty entries for 2 layers/.test(p)));
      assert.ok(problems.some((p) => /layer 0 .* uncompressed digest .* diff_id/.test(p)));
      assert.ok(problems.some((p) => /layer 1 .* bytes, its descriptor says/.test(p)));
      await assert.rejects(validateImage(store, image), /invalid image sha256:/);

      config.rootfs.diff_ids = [a.diffId];
      const short = await rawImage(store, { ...manifest, layers: [a.descriptor, b.descriptor] }, config);
      assert.ok((await imageProblems(store, short)).some((p) => /2 layers but 1 diff_ids/.test(p)));
    });
  });

  it('reports a missing manifest or config', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store);
      await store.content.delete(image.id);
      assert.match((await imageProblems(store, image)).join('\n'), /config sha256:.* not found/);
      await store.content.delete(image.manifestDescriptor.digest);
      assert.match((await imageProblems(store, image)).join('\n'), /manifest sha256:.* not found/);
    });
  });
});
