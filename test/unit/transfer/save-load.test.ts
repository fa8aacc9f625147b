import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type Digest, digestHex, sha256Of } from '../../../src/digest/digest.js';
import { BuilderError } from '../../../src/errors.js';
import { validateImage } from '../../../src/image/validate-image.js';
import { MediaTypes } from '../../../src/oci/media-types.js';
import { parseIndex, parseManifest } from '../../../src/oci/parse.js';
import { hostPlatform } from '../../../src/oci/platform.js';
import {
  descriptorOf,
  serializeConfig,
  serializeIndex,
  serializeManifest,
} from '../../../src/oci/serialize.js';
import type { ImageConfig } from '../../../src/oci/types.js';
import { checkStore } from '../../../src/store/check.js';
import type { Store } from '../../../src/store/store.js';
import { loadArchive } from '../../../src/transfer/load.js';
import { saveImages } from '../../../src/transfer/save.js';
import { archiveFiles, validateArchiveDocuments } from '../../helpers/archive-files.js';
import { configFor, type FileSpec, randomImage, tarBytes, withStore } from '../../helpers/image-fixtures.js';

async function saveToBuffer(
  store: Store,
  refs: string[],
  format: 'docker' | 'oci' = 'docker',
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await saveImages(store, refs, sink, { format });
  return Buffer.concat(chunks);
}

const files = archiveFiles;

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON of any shape, checked field by field
function json(buf: Buffer | undefined): any {
  assert.ok(buf, 'file present');
  return JSON.parse(buf.toString('utf8'));
}

describe('save', () => {
  it('docker format: manifest.json, repositories and an OCI layout with uncompressed layers', async () => {
    await withStore(async (store) => {
      const image = await randomImage(store, { layers: 2 });
      await store.images.tag(image, 'app:1.0');
      await store.images.tag(image, 'localhost:5000/team/app:2');
      const contents = await files(await saveToBuffer(store, ['app:1.0', 'localhost:5000/team/app:2']));
      assert.deepEqual(
        [...contents.keys()].filter((p) => !p.startsWith('blobs/')),
        ['index.json', 'manifest.json', 'oci-layout', 'repositories'],
      );
      const manifestJson = json(contents.get('manifest.json'));
      assert.deepEqual(manifestJson, [
        {
          Config: `blobs/sha256/${digestHex(image.id)}`,
          RepoTags: ['app:1.0', 'localhost:5000/team/app:2'],
          Layers: image.config.rootfs.diff_ids.map((d) => `blobs/sha256/${digestHex(d)}`),
        },
      ]);
      const top = digestHex(image.config.rootfs.diff_ids[1] as Digest);
      assert.deepEqual(json(contents.get('repositories')), {
        app: { '1.0': top },
        'localhost:5000/team/app': { '2': top },
      });
      // Layers are the uncompressed tars (their digest is the diffID).
      for (const diffId of image.config.rootfs.diff_ids) {
        assert.equal(sha256Of(contents.get(`blobs/sha256/${digestHex(diffId)}`) as Buffer), diffId);
      }
      const index = parseIndex(contents.get('index.json') as Buffer);
      assert.deepEqual(
        index.manifests.map((d) => d.annotations),
        [
          {
            'io.containerd.image.name': 'docker.io/library/app:1.0',
            'org.opencontainers.image.ref.name': '1.0',
          },
          {
            'io.containerd.image.name': 'localhost:5000/team/app:2',
            'org.opencontainers.image.ref.name': '2',
          },
        ],
      );
      assert.deepEqual(
        Buffer.from(await store.content.readBytes(image.id)),
        contents.get(`blobs/sha256/${digestHex(image.id)}`),
      );
      await validateArchiveDocuments(contents);
    });
  });

  it('oci format: stored blobs byte for byte; Docker media types are rewritten to OCI', async () => {
    await withStore(async (store) => {
      const oci = await randomImage(store);
      await store.images.tag(oci, 'oci:1');
      const docker = await randomImage(store, { mediaTypes: 'docker' });
      const contents = await files(await saveToBuffer(store, ['oci:1', docker.id], 'oci'));
      assert.deepEqual(
        [...contents.keys()].filter((p) => !p.startsWith('blobs/')),
        ['index.json', 'oci-layout'],
      );
      const index = parseIndex(contents.get('index.json') as Buffer);
      assert.equal(index.manifests.length, 2);
      assert.deepEqual(index.manifests[0], {
        ...oci.manifestDescriptor,
        annotations: {
          'io.containerd.image.name': 'docker.io/library/oci:1',
          'org.opencontainers.image.ref.name': '1',
        },
      });
      for (const layer of oci.manifest.layers) {
        assert.deepEqual(
          contents.get(`blobs/sha256/${digestHex(layer.digest)}`),
          Buffer.from(await store.content.readBytes(layer.digest)),
        );
      }
      const converted = parseManifest(
        contents.get(`blobs/sha256/${digestHex(index.manifests[1]?.digest as Digest)}`) as Buffer,
      );
      assert.equal(converted.mediaType, MediaTypes.ociManifest);
      assert.equal(converted.config.digest, docker.id, 'same config bytes, same image ID');
      assert.ok(converted.layers.every((l) => l.mediaType === MediaTypes.ociLayerGzip));
      assert.equal(index.manifests[1]?.annotations, undefined, 'saved by ID: no name');
      await validateArchiveDocuments(contents);
    });
  });

  it('refuses unknown images and formats', async () => {
    await withStore(async (store) => {
      await assert.rejects(saveToBuffer(store, ['nothere']), /No such image/);
      await randomImage(store).then((i) => store.images.tag(i, 'x:1'));
      await assert.rejects(saveToBuffer(store, ['x:1'], 'zip' as 'oci'), /unknown archive format/);
    });
  });
});

describe('load', () => {
  it('reads back what save writes, in both formats, keeping IDs, names and (oci) manifest digests', async () => {
    await withStore(async (source) => {
      const image = await randomImage(source, { layers: 2 });
      await source.images.tag(image, 'app:1.0');
      const docker = await saveToBuffer(source, ['app:1.0']);
      const oci = await saveToBuffer(source, ['app:1.0'], 'oci');
      await withStore(async (target) => {
        const r = await loadArchive(target, Readable.from([docker]));
        assert.deepEqual(r.lines, ['Loaded image: app:1.0']);
        const loaded = await target.images.get('app:1.0');
        assert.equal(loaded.id, image.id);
        assert.ok(loaded.manifest.layers.every((l) => l.mediaType === MediaTypes.ociLayer));
        await validateImage(target, loaded);
        assert.equal(await target.images.imageSize(loaded), await source.images.imageSize(image));
      });
      await withStore(async (target) => {
        const r = await loadArchive(target, Readable.from([gzipSync(oci)]));
        assert.deepEqual(r.lines, ['Loaded image: app:1.0']);
        const loaded = await target.images.get('app:1.0');
        assert.deepEqual(loaded.manifestDescriptor, image.manifestDescriptor);
        await validateImage(target, loaded);
      });
    });
  });

  it('reads the classic docker save form (<id>/layer.tar, <hex>.json, symlinked duplicate layers)', async () => {
    await withStore(async (store) => {
      const layer1 = await tarBytes([
        { path: 'bin/' },
        { path: 'bin/tool', body: '#!/bin/sh\necho hi\n', mode: 0o755 },
      ]);
      const layer2 = await tarBytes([{ path: 'etc/' }, { path: 'etc/motd', body: 'hello\n' }]);
      const configOf = (diffIds: Digest[], author: string): Buffer =>
        Buffer.from(
          serializeConfig({
            ...configFor([], { author }),
            rootfs: { type: 'layers', diff_ids: diffIds },
            history: diffIds.map((_, i) => ({ created_by: `step ${i}` })),
          }),
        );
      const d1 = sha256Of(layer1);
      const d2 = sha256Of(layer2);
      const configA = configOf([d1, d2], 'a');
      const configB = configOf([d1], 'b');
      const idA = sha256Of(configA);
      const idB = sha256Of(configB);
      const v1 = (n: number) => `${String(n).repeat(64)}`;
      const archive = await tarBytes([
        { path: `${v1(1)}/` },
        { path: `${v1(1)}/VERSION`, body: '1.0' },
        { path: `${v1(1)}/json`, body: '{}' },
        { path: `${v1(1)}/layer.tar`, body: layer1 },
        { path: `${v1(2)}/` },
        { path: `${v1(2)}/layer.tar`, body: layer2 },
        { path: `${v1(3)}/` },
        { path: `${v1(3)}/layer.tar`, type: 'symlink', linkname: `../${v1(1)}/layer.tar` },
        { path: `${digestHex(idA)}.json`, body: configA },
        { path: `${digestHex(idB)}.json`, body: configB },
        {
          path: 'manifest.json',
          body: JSON.stringify([
            {
              Config: `${digestHex(idA)}.json`,
              RepoTags: ['classic:a'],
              Layers: [`${v1(1)}/layer.tar`, `${v1(2)}/layer.tar`],
            },
            { Config: `${digestHex(idB)}.json`, RepoTags: null, Layers: [`${v1(3)}/layer.tar`] },
          ]),
        },
        { path: 'repositories', body: JSON.stringify({ classic: { a: v1(2) } }) },
      ]);
      const r = await loadArchive(store, Readable.from([archive]));
      assert.deepEqual(r.lines, ['Loaded image: classic:a', `Loaded image ID: ${idB}`]);
      const a = await store.images.get('classic:a');
      assert.equal(a.id, idA);
      assert.equal(a.manifestDescriptor.mediaType, MediaTypes.dockerManifest);
      assert.deepEqual(
        a.manifest.layers,
        [
          { mediaType: MediaTypes.dockerLayer, digest: d1, size: layer1.length },
          { mediaType: MediaTypes.dockerLayer, digest: d2, size: layer2.length },
        ],
        'uncompressed layers are stored as they came: digest = diffID',
      );
      assert.deepEqual(Buffer.from(await store.content.readBytes(idA)), configA, 'config bytes kept');
      await validateImage(store, a);
      const b = await store.images.get(idB);
      assert.deepEqual(b.names, []);
      await validateImage(store, b);
      assert.deepEqual(await store.images.layerSizes(a), [layer1.length, layer2.length]);
    });
  });

  it("reads Docker >= 25's form (OCI layout inside, names in index.json and manifest.json)", async () => {
    await withStore(async (store) => {
      const layer = await tarBytes([{ path: 'hello.txt', body: 'hello from docker 25\n' }]);
      const diffId = sha256Of(layer);
      const configBytes = serializeConfig({
        ...configFor([]),
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created_by: 'COPY hello.txt /' }],
      } as ImageConfig);
      const manifestBytes = serializeManifest({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: descriptorOf(configBytes, MediaTypes.ociConfig),
        layers: [descriptorOf(layer, MediaTypes.ociLayer)],
      });
      const manifestDesc = descriptorOf(manifestBytes, MediaTypes.ociManifest);
      const index = serializeIndex({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [
          {
            ...manifestDesc,
            annotations: {
              'io.containerd.image.name': 'docker.io/library/hello:25',
              'org.opencontainers.image.ref.name': '25',
            },
          },
        ],
      });
      const blob = (b: Uint8Array): FileSpec => ({ path: `blobs/sha256/${digestHex(sha256Of(b))}`, body: b });
      const archive = await tarBytes([
        { path: 'blobs/' },
        { path: 'blobs/sha256/' },
        blob(layer),
        blob(configBytes),
        blob(manifestBytes),
        { path: 'index.json', body: index },
        {
          path: 'manifest.json',
          body: JSON.stringify([
            {
              Config: `blobs/sha256/${digestHex(sha256Of(configBytes))}`,
              RepoTags: ['hello:25', 'hello:latest'],
              Layers: [`blobs/sha256/${digestHex(diffId)}`],
            },
          ]),
        },
        { path: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
      ]);
      const r = await loadArchive(store, Readable.from([gzipSync(archive)]));
      assert.deepEqual(r.lines, ['Loaded image: hello:25', 'Loaded image: hello:latest']);
      const image = await store.images.get('hello:latest');
      assert.deepEqual(image.manifestDescriptor, manifestDesc, 'the manifest is kept as it came');
      assert.deepEqual(image.names, ['docker.io/library/hello:25', 'docker.io/library/hello:latest']);
      await validateImage(store, image);
    });
  });

  it('a multi-platform index with BuildKit attestations loads the manifest for this platform', async () => {
    await withStore(async (source) => {
      const image = await randomImage(source);
      await source.images.tag(image, 'multi:1');
      const contents = await files(await saveToBuffer(source, ['multi:1'], 'oci'));
      const statement = Buffer.from('{"_type":"https://in-toto.io/Statement/v0.1"}');
      const attestConfig = Buffer.from(
        '{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}',
      );
      const attestation = serializeManifest({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: descriptorOf(attestConfig, MediaTypes.ociConfig),
        layers: [descriptorOf(statement, 'application/vnd.in-toto+json')],
      });
      const nested = serializeIndex({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [
          { ...image.manifestDescriptor, platform: hostPlatform() },
          {
            ...descriptorOf(Buffer.from('absent'), MediaTypes.ociManifest),
            platform: { os: 'linux', architecture: 'riscv64' },
          },
          {
            ...descriptorOf(attestation, MediaTypes.ociManifest),
            platform: { os: 'unknown', architecture: 'unknown' },
            annotations: {
              'vnd.docker.reference.type': 'attestation-manifest',
              'vnd.docker.reference.digest': image.manifestDescriptor.digest,
            },
          },
        ],
      });
      for (const b of [statement, attestConfig, attestation, nested])
        contents.set(`blobs/sha256/${digestHex(sha256Of(b))}`, Buffer.from(b));
      contents.set(
        'index.json',
        Buffer.from(
          serializeIndex({
            schemaVersion: 2,
            mediaType: MediaTypes.ociIndex,
            manifests: [
              {
                ...descriptorOf(nested, MediaTypes.ociIndex),
                annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1' },
              },
            ],
          }),
        ),
      );
      const archive = await tarBytes([...contents].map(([path, body]) => ({ path, body })));
      await withStore(async (target) => {
        assert.deepEqual((await loadArchive(target, Readable.from([archive]))).lines, [
          'Loaded image: multi:1',
        ]);
        const loaded = await target.images.get('multi:1');
        assert.equal(loaded.id, image.id);
        assert.deepEqual(loaded.repoDigests, [`docker.io/library/multi@${sha256Of(nested)}`]);
        assert.deepEqual((await checkStore(target)).problems, []);
      });
    });
  });

  it('a bare ref.name tag names nothing; a re-loaded name says what it replaced', async () => {
    await withStore(async (source) => {
      const first = await randomImage(source);
      await source.images.tag(first, 'app:1');
      const archive = await saveToBuffer(source, ['app:1'], 'oci');
      const contents = await files(archive);
      const index = json(contents.get('index.json'));
      delete index.manifests[0].annotations['io.containerd.image.name'];
      contents.set('index.json', Buffer.from(JSON.stringify(index)));
      const rewritten = await tarBytes([...contents].map(([path, body]) => ({ path, body })));
      await withStore(async (target) => {
        const r = await loadArchive(target, Readable.from([rewritten]));
        assert.deepEqual(r.lines, [`Loaded image ID: ${first.id}`]);
        const other = await randomImage(target);
        await target.images.tag(other, 'app:1');
        const again = await loadArchive(target, Readable.from([archive]));
        assert.deepEqual(again.lines, [
          `The image app:1 already exists, renaming the old one with ID ${other.id} to empty string`,
          'Loaded image: app:1',
        ]);
      });
    });
  });

  it('refuses what is not an image archive, truncated input and blobs that do not match their names', async () => {
    await withStore(async (store) => {
      const notArchive = await tarBytes([{ path: 'readme.txt', body: 'hi' }]);
      await assert.rejects(
        loadArchive(store, Readable.from([notArchive])),
        /not an image archive: no manifest.json or index.json/,
      );
      await assert.rejects(loadArchive(store, Readable.from([Buffer.alloc(0)])), /empty/);
      const image = await randomImage(store);
      await store.images.tag(image, 'x:1');
      const good = await saveToBuffer(store, ['x:1']);
      await assert.rejects(
        loadArchive(store, Readable.from([good.subarray(0, good.length - 3000)])),
        /truncated/,
      );
      const contents = await files(good);
      const layerPath = [...contents.keys()].find(
        (p) => p === `blobs/sha256/${digestHex(image.config.rootfs.diff_ids[0] as Digest)}`,
      ) as string;
      const body = Buffer.from(contents.get(layerPath) as Buffer);
      body.writeUInt8(body.readUInt8(body.length - 1) ^ 1, body.length - 1);
      contents.set(layerPath, body);
      const tampered = await tarBytes([...contents].map(([path, b]) => ({ path, body: b })));
      await assert.rejects(
        loadArchive(store, Readable.from([tampered])),
        (err: unknown) => err instanceof BuilderError && err.code === 'EDIGEST',
      );
      // gzip is read; a corrupt gzip stream fails
      const gz = gzipSync(good);
      gz.writeUInt8(gz.readUInt8(gz.length - 5) ^ 0xff, gz.length - 5);
      await assert.rejects(loadArchive(store, Readable.from([gz])));
      assert.deepEqual(gunzipSync(gzipSync(good)), good);
    });
  });
});
