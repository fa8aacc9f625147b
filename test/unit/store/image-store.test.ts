import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Digest, digestHex, sha256Of } from '../../../src/digest/digest.js';
import { BuilderError } from '../../../src/errors.js';
import { validateImage } from '../../../src/image/validate-image.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import { parseConfig, parseManifest } from '../../../src/oci/parse.js';
import { hostPlatform } from '../../../src/oci/platform.js';
import { descriptorOf, serializeIndex, serializeManifest } from '../../../src/oci/serialize.js';
import type { Descriptor, Manifest } from '../../../src/oci/types.js';
import { IMAGE_ID_LABEL } from '../../../src/store/image-store.js';
import { addLayer, configFor, randomImage, withStore } from '../../helpers/image-fixtures.js';
import { loadOciSchemas } from '../../helpers/oci-schema.js';

function code(expected: string) {
  return (err: unknown) => err instanceof BuilderError && err.code === expected;
}

describe('ImageStore.put / get', () => {
  it('writes an OCI config and manifest that validate, and finds the image by ID, short ID and name', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store, { layers: 2 });
      await validateImage(store, image);
      assert.equal(image.manifestDescriptor.mediaType, MediaTypes.ociManifest);
      assert.equal(image.manifest.config.mediaType, MediaTypes.ociConfig);
      assert.equal(image.id, image.manifest.config.digest);
      assert.deepEqual(image.names, []);

      const schemas = await loadOciSchemas();
      const manifestJson = JSON.parse(
        Buffer.from(await store.content.readBytes(image.manifestDescriptor.digest)).toString(),
      );
      const configJson = JSON.parse(Buffer.from(await store.content.readBytes(image.id)).toString());
      assert.deepEqual(schemas.validateStrict('manifest', manifestJson).errors, []);
      assert.deepEqual(schemas.validateStrict('config', configJson).errors, []);

      // A dangling image is found by its ID in every form.
      for (const ref of [
        image.id,
        digestHex(image.id),
        digestHex(image.id).slice(0, 12),
        digestHex(image.id).slice(0, 4),
      ]) {
        assert.equal((await store.images.get(ref)).id, image.id, ref);
      }
      assert.equal((await store.images.get(`sha256:${digestHex(image.id).slice(0, 8)}`)).id, image.id);
      assert.equal(
        await store.images.find(digestHex(image.id).slice(0, 3)),
        undefined,
        'three digits are too few',
      );

      await store.images.tag(image, 'app');
      const named = await store.images.get('app');
      assert.deepEqual(named.names, ['docker.io/library/app:latest']);
      assert.deepEqual(named.repoDigests, [`docker.io/library/app@${image.manifestDescriptor.digest}`]);
      assert.equal((await store.images.get('docker.io/library/app:latest')).id, image.id);
      assert.equal((await store.images.get(`app@${image.manifestDescriptor.digest}`)).id, image.id);
      assert.equal(await store.images.find(`other@${image.manifestDescriptor.digest}`), undefined);
      const listed = await store.images.list();
      assert.equal(listed.length, 1);
      assert.deepEqual(listed[0]?.names, ['docker.io/library/app:latest']);
    });
  });

  it('missing images are ENOTFOUND with a hint naming pull, load and import', async () => {
    await withStore(async (store) => {
      await assert.rejects(store.images.get('nothere:1'), (err: unknown) => {
        assert.ok(err instanceof BuilderError);
        assert.equal(err.code, 'ENOTFOUND');
        assert.match(err.message, /No such image: nothere:1/);
        assert.match(err.hint ?? '', /strata pull.*strata load.*strata import/);
        return true;
      });
    });
  });

  it('an ambiguous short ID is refused', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store);
      const target = image.manifestDescriptor;
      await store.images.records.put(`sha256:abcd${'1'.repeat(60)}`, {
        target,
        createdAt: new Date().toISOString(),
      });
      await store.images.records.put(`sha256:abcd${'2'.repeat(60)}`, {
        target,
        createdAt: new Date().toISOString(),
      });
      await assert.rejects(store.images.get('abcd'), /multiple IDs found with provided prefix: abcd/);
    });
  });

  it('checks diff_ids against layers, layer media types, and that every blob is present', async () => {
    await withStore(async (store) => {
      const layer = await addLayer(store, [{ path: 'a', body: 'a' }]);
      await assert.rejects(
        store.images.put(configFor([layer, layer]), [layer.descriptor]),
        /2 diff_ids but 1 layers/,
      );
      await assert.rejects(
        store.images.put(configFor([layer]), [{ ...layer.descriptor, mediaType: 'application/json' }]),
        /not a layer type/,
      );
      const missing: Descriptor = { ...layer.descriptor, digest: sha256Of('not stored') };
      await assert.rejects(store.images.put(configFor([layer]), [missing]), (err: unknown) => {
        assert.ok(err instanceof BuilderError && err.code === 'ENOTFOUND');
        assert.match(err.message, /layer 0 sha256:[0-9a-f]+ is not in the store/);
        return true;
      });
      await assert.rejects(
        store.images.put(configFor([layer]), [{ ...layer.descriptor, size: layer.descriptor.size + 1 }]),
        code('EDIGEST'),
      );
      assert.deepEqual(await store.images.list(), []);
    });
  });

  it('Docker media types are written on request and kept as they came in', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store, { mediaTypes: 'docker' });
      assert.equal(image.manifestDescriptor.mediaType, MediaTypes.dockerManifest);
      assert.equal(image.manifest.config.mediaType, MediaTypes.dockerConfig);
      assert.ok(image.manifest.layers.every((l) => l.mediaType === MediaTypes.dockerLayerGzip));
      await validateImage(store, image);

      // A hand-written Docker manifest (other key order, trailing newline) is stored byte for byte.
      const layer = await addLayer(store, [{ path: 'x', body: 'x' }], {
        compression: 'none',
        mediaTypes: 'docker',
      });
      const configBytes = Buffer.from(JSON.stringify(configFor([layer], { history: [{ created_by: 'x' }] })));
      const config = await store.content.writeBytes(configBytes);
      const manifestBytes = Buffer.from(
        `${JSON.stringify({
          mediaType: MediaTypes.dockerManifest,
          schemaVersion: 2,
          config: { mediaType: MediaTypes.dockerConfig, size: config.size, digest: config.digest },
          layers: [layer.descriptor],
        })}\n`,
      );
      const written = await store.content.writeBytes(manifestBytes);
      const desc = { mediaType: MediaTypes.dockerManifest, digest: written.digest, size: written.size };
      const stored = await store.images.putManifest(desc);
      assert.equal(stored.id, config.digest);
      assert.deepEqual(stored.manifestDescriptor, desc);
      assert.deepEqual(Buffer.from(await store.content.readBytes(desc.digest)), manifestBytes);
      assert.equal((await store.images.get(config.digest)).manifestDescriptor.digest, written.digest);
    });
  });

  it('tag reports the image a name pointed at before; digests cannot be tags', async () => {
    await withStore(async (store) => {
      const a = await randomImage(store);
      const b = await randomImage(store);
      assert.deepEqual(await store.images.tag(a, 'app:1'), { name: 'docker.io/library/app:1' });
      assert.deepEqual(await store.images.tag(a, 'app:1'), { name: 'docker.io/library/app:1' });
      assert.deepEqual(await store.images.tag(b, 'app:1'), {
        name: 'docker.io/library/app:1',
        replaced: a.id,
      });
      assert.equal((await store.images.get('app:1')).id, b.id);
      assert.deepEqual((await store.images.get(a.id)).names, [], 'the old image is now dangling');
      await assert.rejects(store.images.tag(a, `app@${a.manifestDescriptor.digest}`), /digest reference/);
      await assert.rejects(store.images.tag(a, 'UPPER'), /must be lowercase/);
      const rec = await store.meta.names.get('docker.io/library/app:1');
      assert.equal(rec?.labels?.[IMAGE_ID_LABEL], b.id);
    });
  });

  it('putting and tagging the same image again writes nothing (a rebuild from cache)', async () => {
    await withStore(async (store) => {
      const a = await randomImage(store);
      await store.images.tag(a, 'app:1');
      const name = await store.meta.names.get('docker.io/library/app:1');
      const record = await store.images.records.get(a.id);
      await new Promise((r) => setTimeout(r, 5)); // a rewrite would show a later updatedAt
      const again = await store.images.putManifest(a.manifestDescriptor);
      assert.equal(again.id, a.id);
      assert.deepEqual(await store.images.tag(again, 'app:1'), { name: 'docker.io/library/app:1' });
      assert.equal((await store.meta.names.get('docker.io/library/app:1'))?.updatedAt, name?.updatedAt);
      assert.equal((await store.images.records.get(a.id))?.updatedAt, record?.updatedAt);
    });
  });

  it('a name pointing at an index resolves to the manifest for this platform', async () => {
    await withStore(async (store) => {
      const host = await randomImage(store);
      const other = await randomImage(store);
      const platform = hostPlatform();
      const index = serializeIndex({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [
          { ...other.manifestDescriptor, platform: { os: 'plan9', architecture: 'mips' } },
          { ...host.manifestDescriptor, platform },
        ],
      });
      const written = await store.content.writeBytes(index);
      await store.images.tag(
        { mediaType: MediaTypes.ociIndex, digest: written.digest, size: written.size },
        'multi:1',
      );
      const got = await store.images.get('multi:1');
      assert.equal(got.id, host.id);
      assert.deepEqual(got.repoDigests, [`docker.io/library/multi@${written.digest}`]);
    });
  });
});

describe('ImageStore.remove (docker rmi)', () => {
  it('a name with no other name: Untagged, then Deleted', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store);
      await store.images.tag(image, 'app:1.0');
      const r = await store.images.remove('app:1.0');
      assert.deepEqual(r.lines, ['Untagged: app:1.0', `Deleted: ${image.id}`]);
      assert.equal(await store.images.find(image.id), undefined);
    });
  });

  it('a name of an image with more names is only untagged', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store);
      await store.images.tag(image, 'app:1.0');
      await store.images.tag(image, 'user/other:2');
      const r = await store.images.remove('user/other:2');
      assert.deepEqual(r.lines, ['Untagged: user/other:2']);
      assert.deepEqual((await store.images.get(image.id)).names, ['docker.io/library/app:1.0']);
    });
  });

  it('an ID with names in several repositories needs force', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store);
      await store.images.tag(image, 'app:1.0');
      await store.images.tag(image, 'localhost:5000/x/app:1.0');
      await assert.rejects(store.images.remove(digestHex(image.id).slice(0, 12)), (err: unknown) => {
        assert.ok(err instanceof BuilderError && err.code === 'EPRECONDITION');
        assert.equal(
          err.message,
          `conflict: unable to delete ${digestHex(image.id).slice(0, 12)} (must be forced) - image is referenced in multiple repositories`,
        );
        return true;
      });
      const r = await store.images.remove(image.id, { force: true });
      assert.deepEqual(r.lines, [
        'Untagged: app:1.0',
        'Untagged: localhost:5000/x/app:1.0',
        `Deleted: ${image.id}`,
      ]);
      assert.deepEqual(await store.images.list(), []);
    });
  });

  it('an ID whose names are all in one repository needs no force; a dangling ID is just deleted', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store);
      await store.images.tag(image, 'app:1');
      await store.images.tag(image, 'app:2');
      const r = await store.images.remove(image.id);
      assert.deepEqual(r.lines, ['Untagged: app:1', 'Untagged: app:2', `Deleted: ${image.id}`]);
      const dangling = await randomImage(store);
      assert.deepEqual((await store.images.remove(digestHex(dangling.id).slice(0, 6))).lines, [
        `Deleted: ${dangling.id}`,
      ]);
      await assert.rejects(store.images.remove('nothere'), code('ENOTFOUND'));
    });
  });

  it("untagging a repository's last tag drops its digest references too", async () => {
    await withStore(async (store) => {
      const image = await randomImage(store);
      await store.images.tag(image, 'app:1');
      const digestName = `docker.io/library/app@${image.manifestDescriptor.digest}`;
      await store.meta.names.set(digestName, image.manifestDescriptor, {
        labels: { [IMAGE_ID_LABEL]: image.id },
      });
      await store.images.tag(image, 'keep:1');
      const r = await store.images.remove('app:1');
      assert.deepEqual(r.lines, ['Untagged: app:1', `Untagged: app@${image.manifestDescriptor.digest}`]);
      assert.deepEqual((await store.images.get(image.id)).names, ['docker.io/library/keep:1']);
    });
  });
});

describe('layer sizes', () => {
  it('are recorded by writeLayer and recomputed (and checked) when the record is missing', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store, { layers: 1 });
      const diffId = image.config.rootfs.diff_ids[0] as Digest;
      const layer = image.manifest.layers[0] as Descriptor;
      const recorded = await store.images.layers.get(diffId);
      assert.ok(recorded !== undefined && recorded.value.size > layer.size, 'uncompressed size recorded');
      await store.images.layers.delete(diffId);
      assert.equal(await store.images.layerSize(diffId, layer), recorded.value.size);
      assert.equal((await store.images.layers.get(diffId))?.value.size, recorded.value.size);
      await store.images.layers.delete(diffId);
      await assert.rejects(store.images.layerSize(sha256Of('wrong'), layer), code('EDIGEST'));
      assert.equal(await store.images.imageSize(image), recorded.value.size);
    });
  });

  it('uncompressed layers need no reading: their size is the blob size', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store, { compression: 'none' });
      for (const [i, layer] of image.manifest.layers.entries()) {
        assert.equal(layer.mediaType, MediaTypes.ociLayer);
        assert.equal(layer.digest, image.config.rootfs.diff_ids[i]);
      }
      assert.equal(
        await store.images.imageSize(image),
        image.manifest.layers.reduce((n, l) => n + l.size, 0),
      );
    });
  });
});

describe('documents written by put', () => {
  it('round-trip through our parsers byte for byte', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store, { layers: 3 });
      const manifestBytes = Buffer.from(await store.content.readBytes(image.manifestDescriptor.digest));
      const manifest: Manifest = parseManifest(manifestBytes);
      assert.deepEqual(Buffer.from(serializeManifest(manifest)), manifestBytes);
      assert.equal(
        descriptorOf(manifestBytes, MediaTypes.ociManifest).digest,
        image.manifestDescriptor.digest,
      );
      const config = parseConfig(await store.content.readBytes(image.id));
      assert.equal(config.history?.length, 4);
    });
  });
});

describe('ImageStore names: false', () => {
  it('gives the image without looking its names up, by name, ID or short ID; the default still lists them', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store, { layers: 1 });
      await store.images.tag(image, 'app:1');
      for (const ref of ['app:1', image.id, digestHex(image.id).slice(0, 12)]) {
        const bare = await store.images.get(ref, { names: false });
        assert.equal(bare.id, image.id, ref);
        assert.deepEqual(bare.names, [], ref);
        assert.deepEqual(bare.repoDigests, [], ref);
        assert.deepEqual((await store.images.get(ref)).names, ['docker.io/library/app:1'], ref);
      }
      // A put of the same image again: its existing name is not looked up when asked so.
      const again = await store.images.put(image.config, image.manifest.layers, { names: false });
      assert.equal(again.id, image.id);
      assert.deepEqual(again.names, []);
      assert.deepEqual((await store.images.put(image.config, image.manifest.layers)).names, [
        'docker.io/library/app:1',
      ]);
    });
  });
});
