// The BuildKit goldens (shared/conformance/buildkit-image-goldens) through the image store and
// the archives. Their layers are not in the corpus, so:
//   * each golden manifest and config is stored raw and read back byte for byte, and recording it
//     as an image fails cleanly (ENOTFOUND naming the missing layer) instead of making an
//     incomplete image;
//   * each golden config is re-made over synthetic layers (only rootfs.diff_ids change, through
//     our Go-exact serialiser), the manifest rebuilt with the golden's media types and
//     annotations, then saved and loaded in both archive formats: IDs, config bytes and (OCI
//     form) manifest digests survive, and every image validates.

import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { type Digest, sha256Of } from '../../src/digest/digest.js';
import { BuilderError } from '../../src/errors.js';
import { validateImage } from '../../src/image/validate-image.js';
import { layerCompression } from '../../src/oci/media-types.js';
import { parseConfig, parseManifest } from '../../src/oci/parse.js';
import { serializeConfig, serializeManifest } from '../../src/oci/serialize.js';
import type { Descriptor, Manifest } from '../../src/oci/types.js';
import type { Store } from '../../src/store/store.js';
import { loadArchive } from '../../src/transfer/load.js';
import { type SaveFormat, saveImages } from '../../src/transfer/save.js';
import { conformancePath, readConformanceText } from '../helpers/conformance.js';
import { addLayer, withStore } from '../helpers/image-fixtures.js';

interface Golden {
  name: string;
  manifest: Buffer;
  config: Buffer;
}

async function goldens(): Promise<Golden[]> {
  const root = conformancePath('buildkit-image-goldens');
  const out: Golden[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.name === 'manifest.json') {
        const rel = relative(root, dir).split('/');
        const [, caseName, version] = rel as [string, string, string];
        out.push({
          name: rel.join('/'),
          manifest: Buffer.from(await readConformanceText('buildkit-image-goldens', ...rel, 'manifest.json')),
          config: Buffer.from(
            await readConformanceText('buildkit-image-goldens', 'common', caseName, version, 'config.json'),
          ),
        });
      }
    }
  };
  await walk(root);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

async function archive(store: Store, refs: string[], format: SaveFormat): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await saveImages(
    store,
    refs,
    new Writable({
      write(c, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
    { format },
  );
  return Buffer.concat(chunks);
}

const all = await goldens();

describe('BuildKit goldens in the store', () => {
  it('the corpus has the 34 manifests its README promises', () => {
    assert.equal(all.length, 34);
  });

  for (const golden of all) {
    it(`${golden.name}: raw documents read back identical; recording needs the layers`, async () => {
      await withStore(async (store) => {
        const manifest = parseManifest(golden.manifest);
        assert.equal(sha256Of(golden.config), manifest.config.digest, 'golden config matches its manifest');
        const m = await store.content.writeBytes(golden.manifest);
        const c = await store.content.writeBytes(golden.config, { expectedDigest: manifest.config.digest });
        assert.deepEqual(Buffer.from(await store.content.readBytes(m.digest)), golden.manifest);
        assert.deepEqual(Buffer.from(await store.content.readBytes(c.digest)), golden.config);
        const descriptor = { mediaType: manifest.mediaType as string, digest: m.digest, size: m.size };
        await assert.rejects(store.images.putManifest(descriptor), (err: unknown) => {
          assert.ok(err instanceof BuilderError);
          assert.equal(err.code, 'ENOTFOUND');
          assert.match(err.message, new RegExp(`layer 0 ${manifest.layers[0]?.digest} is not in the store`));
          return true;
        });
        assert.deepEqual(await store.images.list(), []);
      });
    });
  }

  for (const golden of all) {
    it(`${golden.name}: over synthetic layers, survives save and load in both formats`, async () => {
      const manifest = parseManifest(golden.manifest);
      await withStore(async (store) => {
        const config = parseConfig(golden.config);
        const layers: Descriptor[] = [];
        const diffIds: Digest[] = [];
        for (const [i, golden] of manifest.layers.entries()) {
          // Compressed as the golden's layer is (zstd through zstd-napi).
          const layer = await addLayer(store, [{ path: `golden-${i}.txt`, body: `layer ${i}\n` }], {
            compression: layerCompression(golden.mediaType),
            mediaTypes: 'oci',
          });
          layers.push({ ...golden, digest: layer.descriptor.digest, size: layer.descriptor.size });
          diffIds.push(layer.diffId);
        }
        const remade = { ...config, rootfs: { type: 'layers' as const, diff_ids: diffIds } };
        // Only diff_ids differ: the rest of the config serialises exactly as BuildKit wrote it.
        const goldenWithOurIds = serializeConfig(remade);
        assert.deepEqual(
          Buffer.from(goldenWithOurIds)
            .toString()
            .replace(/"diff_ids":\[[^\]]*\]/, ''),
          golden.config.toString().replace(/"diff_ids":\[[^\]]*\]/, ''),
        );
        const family = manifest.mediaType?.includes('docker') ? 'docker' : 'oci';
        const image = await store.images.put(remade, layers, {
          mediaTypes: family,
          ...(manifest.annotations === undefined ? {} : { annotations: manifest.annotations }),
        });
        const ours: Manifest = parseManifest(await store.content.readBytes(image.manifestDescriptor.digest));
        assert.deepEqual(
          { ...ours, config: undefined, layers: ours.layers.map((l) => ({ ...l, digest: '', size: 0 })) },
          {
            ...manifest,
            config: undefined,
            layers: manifest.layers.map((l) => ({ ...l, digest: '', size: 0 })),
          },
          'same shape, media types and annotations as the golden',
        );
        assert.deepEqual(
          Buffer.from(serializeManifest(ours)),
          Buffer.from(await store.content.readBytes(image.manifestDescriptor.digest)),
        );
        await validateImage(store, image);
        await store.images.tag(image, 'golden:1');

        const oci = await archive(store, ['golden:1'], 'oci');
        await withStore(async (target) => {
          await loadArchive(target, Readable.from([oci]));
          const loaded = await target.images.get('golden:1');
          assert.equal(loaded.id, image.id);
          assert.deepEqual(
            Buffer.from(await target.content.readBytes(loaded.id)),
            Buffer.from(goldenWithOurIds),
          );
          if (family === 'oci') assert.deepEqual(loaded.manifestDescriptor, image.manifestDescriptor);
          await validateImage(target, loaded);
        });
        const docker = await archive(store, ['golden:1'], 'docker');
        await withStore(async (target) => {
          await loadArchive(target, Readable.from([docker]));
          const loaded = await target.images.get('golden:1');
          assert.equal(loaded.id, image.id);
          await validateImage(target, loaded);
        });
      });
    });
  }
});
