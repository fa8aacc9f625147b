// Layer compression end to end (issues 3 and 4), on real snapshots:
// - ADD unpacks local tarballs compressed by Debian's gzip, bzip2, xz and zstd (made here);
//   a compressed file that holds no tar is copied as it is;
// - a build with compression zstd writes OCI zstd layers that the zstd CLI reads back to their
//   diffIDs, whose manifest validates against the OCI schema, which `strata save --format oci`
//   archives for `skopeo inspect oci-archive:` and which load into a fresh store and serve as a
//   base image again;
// - a Docker-format save of a zstd image writes uncompressed layers, as docker save does for
//   every image (decided in docs/decisions.md: decompress, never fail);
// - cached layers are rewritten when a later build asks for another compression;
// - the CLI flags --compression and --compression-level.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { detectCompression } from '../../src/archive/layer-stream.js';
import type { BaseImage } from '../../src/build/engine.js';
import { exportRootfs } from '../../src/build/export-rootfs.js';
import { layerCompression, MediaTypes } from '../../src/oci/media-types.js';
import { Store } from '../../src/store/store.js';
import { loadArchive } from '../../src/transfer/load.js';
import { saveImages } from '../../src/transfer/save.js';
import { archiveFiles, jsonFile, validateArchiveDocuments } from '../helpers/archive-files.js';
import { type BuildEnv, makeBuildEnv } from '../helpers/build-env.js';
import { skipWithoutTools } from '../helpers/image-fixtures.js';
import { loadOciSchemas } from '../helpers/oci-schema.js';
import { overlayReason, skipIf } from './prereqs.js';

const reason = await overlayReason();
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function flatten(env: BuildEnv, image: BaseImage, name: string): Promise<string> {
  const dir = join(env.root, `flat-${name}`);
  await exportRootfs(env.store.content, image as never, dir);
  return dir;
}

async function manifestJson(env: BuildEnv, image: BaseImage): Promise<Record<string, unknown>> {
  const bytes = await env.store.content.readBytes(image.manifestDescriptor.digest);
  return JSON.parse(Buffer.from(bytes).toString('utf8'));
}

/** A small tree, tarred with GNU tar (an independent writer) into `<dir>/app.tar`. */
async function makeAppTar(dir: string): Promise<string> {
  const src = join(dir, 'app-src');
  await mkdir(join(src, 'app', 'conf'), { recursive: true });
  await writeFile(join(src, 'app', 'main.sh'), '#!/bin/sh\necho main\n', { mode: 0o755 });
  await writeFile(join(src, 'app', 'conf', 'settings.ini'), 'debug=false\n'.repeat(500));
  const tarPath = join(dir, 'app.tar');
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '-cf', tarPath, '-C', src, 'app']);
  return tarPath;
}

describe('layer compression in builds', { concurrency: false }, () => {
  let env: BuildEnv;
  before(async () => {
    env = await makeBuildEnv();
  });
  after(async () => env.cleanup());

  test('ADD unpacks local tarballs compressed with gzip, bzip2, xz and zstd', async (t) => {
    if (skipIf(t, reason)) return;
    if (skipWithoutTools(t, 'tar', 'gzip', 'bzip2', 'xz', 'zstd')) return;
    const tarPath = await makeAppTar(env.root);
    const tarBytes = await readFile(tarPath);
    const compress = (tool: string, args: string[]) => execFileSync(tool, args, { input: tarBytes });
    await writeFile(join(env.context, 'app.tar.gz'), compress('gzip', ['-c', '-n']));
    await writeFile(join(env.context, 'app.tar.bz2'), compress('bzip2', ['-c']));
    await writeFile(join(env.context, 'app.tar.xz'), compress('xz', ['-c']));
    await writeFile(join(env.context, 'app.tar.zst'), compress('zstd', ['-c', '-q']));
    // Compressed, but no tar inside: copied as it is, as BuildKit does.
    const notes = execFileSync('bzip2', ['-c'], { input: 'just notes\n' });
    await writeFile(join(env.context, 'notes.txt.bz2'), notes);
    const r = await env.build(
      `FROM scratch
ADD app.tar.gz /gz/
ADD app.tar.bz2 /bz2/
ADD app.tar.xz /xz/
ADD app.tar.zst /zst/
ADD notes.txt.bz2 /notes/
`,
    );
    const root = await flatten(env, r.image, 'add');
    for (const dir of ['gz', 'bz2', 'xz', 'zst']) {
      assert.equal(await readFile(join(root, dir, 'app', 'main.sh'), 'utf8'), '#!/bin/sh\necho main\n', dir);
      assert.equal(
        await readFile(join(root, dir, 'app', 'conf', 'settings.ini'), 'utf8'),
        'debug=false\n'.repeat(500),
        dir,
      );
    }
    assert.ok((await readFile(join(root, 'notes', 'notes.txt.bz2'))).equals(notes));
  });

  test('compression zstd: OCI zstd layers the zstd CLI reads back to their diffIDs, a valid manifest', async (t) => {
    if (skipIf(t, reason)) return;
    if (skipWithoutTools(t, 'zstd')) return;
    await env.write({ 'z/one.txt': 'one\n'.repeat(10_000), 'z/two.txt': 'two\n' });
    const r = await env.build(
      `FROM scratch
COPY z/one.txt /one.txt
COPY z/two.txt /two.txt
`,
      { compression: { type: 'zstd', level: 19 }, tags: ['zstd-test:1'] },
    );
    const layers = r.image.manifest.layers;
    assert.equal(layers.length, 2);
    const diffIds = r.image.config.rootfs.diff_ids;
    for (const [i, layer] of layers.entries()) {
      assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
      const blob = Buffer.from(await env.store.content.readBytes(layer.digest));
      assert.equal(sha256(blob), layer.digest);
      assert.equal(blob.length, layer.size);
      const tar = execFileSync('zstd', ['-d', '-c', '-q'], { input: blob, maxBuffer: 64 << 20 });
      assert.equal(sha256(tar), diffIds[i]);
    }
    const manifest = await manifestJson(env, r.image);
    assert.equal(manifest.mediaType, MediaTypes.ociManifest);
    const schemas = await loadOciSchemas();
    assert.deepEqual(schemas.validateStrict('manifest', manifest), { valid: true, errors: [] });
    const root = await flatten(env, r.image, 'zstd');
    assert.equal(await readFile(join(root, 'one.txt'), 'utf8'), 'one\n'.repeat(10_000));
  });

  test('save --format oci of a zstd image: skopeo inspect accepts it; it loads and serves as a base', async (t) => {
    if (skipIf(t, reason)) return;
    if (skipWithoutTools(t, 'skopeo')) return;
    const image = await env.store.images.get('zstd-test:1');
    const archive = join(env.root, 'zstd-oci.tar');
    await saveImages(env.store, ['zstd-test:1'], createWriteStream(archive), { format: 'oci' });
    const files = await archiveFiles(await readFile(archive));
    assert.ok((await validateArchiveDocuments(files)) > 0);
    const inspected = JSON.parse(
      execFileSync('skopeo', ['inspect', `oci-archive:${archive}:1`], { encoding: 'utf8' }),
    );
    assert.deepEqual(
      inspected.Layers,
      image.manifest.layers.map((l) => l.digest),
    );
    for (const data of inspected.LayersData ?? []) {
      assert.equal(data.MIMEType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    }
    const raw = JSON.parse(
      execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${archive}:1`], { encoding: 'utf8' }),
    );
    assert.deepEqual(
      raw.layers.map((l: { mediaType: string }) => l.mediaType),
      ['application/vnd.oci.image.layer.v1.tar+zstd', 'application/vnd.oci.image.layer.v1.tar+zstd'],
    );

    // A fresh store loads it (layers kept as zstd), and a build FROM it unpacks them.
    const other = await makeBuildEnv();
    try {
      const loaded = await loadArchive(other.store, createReadStream(archive));
      assert.equal(loaded.images.length, 1);
      const stored = loaded.images[0]!.image;
      assert.equal(stored.id, image.id);
      assert.ok(stored.manifest.layers.every((l) => layerCompression(l.mediaType) === 'zstd'));
      await other.write({ 'three.txt': 'three\n' });
      const r = await other.build('FROM zstd-test:1\nCOPY three.txt /three.txt\n');
      const root = await flatten(other, r.image, 'from-zstd');
      assert.equal(await readFile(join(root, 'one.txt'), 'utf8'), 'one\n'.repeat(10_000));
      assert.equal(await readFile(join(root, 'two.txt'), 'utf8'), 'two\n');
      assert.equal(await readFile(join(root, 'three.txt'), 'utf8'), 'three\n');
      // Without --compression, the new layer is stored uncompressed; the base layers stay as they came.
      assert.deepEqual(
        r.image.manifest.layers.map((l) => layerCompression(l.mediaType)),
        ['zstd', 'zstd', 'none'],
      );
    } finally {
      await other.cleanup();
    }
  });

  test('save --format docker of a zstd image writes the layers uncompressed, as docker save does', async (t) => {
    if (skipIf(t, reason)) return;
    const image = await env.store.images.get('zstd-test:1');
    const archive = join(env.root, 'zstd-docker.tar');
    await saveImages(env.store, ['zstd-test:1'], createWriteStream(archive), { format: 'docker' });
    const files = await archiveFiles(await readFile(archive));
    const [entry] = jsonFile(files, 'manifest.json') as Array<{ Layers: string[] }>;
    assert.equal(entry?.Layers.length, 2);
    for (const [i, path] of (entry?.Layers ?? []).entries()) {
      const layer = files.get(path);
      assert.ok(layer, path);
      assert.equal(sha256(layer), image.config.rootfs.diff_ids[i]);
      assert.equal(detectCompression(layer), 'none');
    }
    if (skipWithoutTools(t, 'skopeo')) return;
    const inspected = JSON.parse(
      execFileSync('skopeo', ['inspect', `docker-archive:${archive}`], { encoding: 'utf8' }),
    );
    assert.equal(inspected.Layers.length, 2);
  });

  test('a cached layer is rewritten when a build asks for another compression (same diffIDs)', async (t) => {
    if (skipIf(t, reason)) return;
    await env.write({ 'c/a.txt': 'cached a\n'.repeat(1000), 'c/b.txt': 'cached b\n' });
    const dockerfile = 'FROM scratch\nCOPY c/a.txt /a.txt\nCOPY c/b.txt /b.txt\n';
    const kinds = (img: BaseImage) => img.manifest.layers.map((l) => layerCompression(l.mediaType));
    // The default stores layers uncompressed: their digests are their diffIDs.
    const plain = await env.build(dockerfile);
    assert.deepEqual(kinds(plain.image), ['none', 'none']);
    assert.deepEqual(
      plain.image.manifest.layers.map((l) => l.digest),
      plain.image.config.rootfs.diff_ids,
    );
    const first = await env.build(dockerfile, { compression: { type: 'gzip' } });
    assert.deepEqual(kinds(first.image), ['gzip', 'gzip']);
    assert.equal(first.image.id, plain.image.id, 'same config, so the same image ID');

    const zstd = await env.build(dockerfile, { compression: { type: 'zstd' } });
    assert.ok(
      zstd.steps.filter((s) => s.name.includes('COPY')).every((s) => s.cached),
      'steps come from the cache',
    );
    assert.deepEqual(kinds(zstd.image), ['zstd', 'zstd']);
    assert.deepEqual(zstd.image.config.rootfs.diff_ids, first.image.config.rootfs.diff_ids);
    assert.equal(zstd.image.id, first.image.id, 'same config, so the same image ID');
    assert.notEqual(zstd.image.manifestDescriptor.digest, first.image.manifestDescriptor.digest);

    // The cache now holds the zstd layers: a build without the option takes them as they are.
    assert.deepEqual(kinds((await env.build(dockerfile)).image), ['zstd', 'zstd']);
    const gzipAgain = await env.build(dockerfile, { compression: { type: 'gzip' } });
    assert.deepEqual(kinds(gzipAgain.image), ['gzip', 'gzip']);
    assert.deepEqual(gzipAgain.image.manifest.layers, first.image.manifest.layers, 'gzip is deterministic');
    const none = await env.build(dockerfile, { compression: { type: 'none' } });
    assert.deepEqual(kinds(none.image), ['none', 'none']);
    assert.deepEqual(
      none.image.manifest.layers.map((l) => l.digest),
      first.image.config.rootfs.diff_ids,
    );
  });
});

describe('strata build --compression, --compression-level', { concurrency: false }, () => {
  let env: BuildEnv;
  before(async () => {
    env = await makeBuildEnv();
    await env.write({ Dockerfile: 'FROM scratch\nCOPY hello.txt /hello.txt\n', 'hello.txt': 'hello\n' });
  });
  after(async () => env.cleanup());

  const strata = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args], {
      env: { ...process.env, STRATA_ROOT: join(env.root, 'cli-store') },
      encoding: 'utf8',
    });

  test('--compression zstd --compression-level 19 writes zstd layers; uncompressed writes plain tars', async (t) => {
    if (skipIf(t, reason)) return;
    // Different labels, different image IDs: one store record each.
    const zstdArgs = [
      '--compression',
      'zstd',
      '--compression-level',
      '19',
      '--label',
      'c=zstd',
      '-t',
      'cli:zstd',
    ];
    let r = strata('build', '-q', ...zstdArgs, env.context);
    assert.equal(r.status, 0, r.stderr);
    r = strata(
      'build',
      '-q',
      '--compression',
      'uncompressed',
      '--label',
      'c=none',
      '-t',
      'cli:none',
      env.context,
    );
    assert.equal(r.status, 0, r.stderr);
    const store = await Store.open(join(env.root, 'cli-store'));
    const zstd = await store.images.get('cli:zstd');
    assert.deepEqual(
      zstd.manifest.layers.map((l) => l.mediaType),
      [MediaTypes.ociLayerZstd],
    );
    const none = await store.images.get('cli:none');
    assert.deepEqual(
      none.manifest.layers.map((l) => l.mediaType),
      [MediaTypes.ociLayer],
    );
    assert.equal(none.manifest.layers[0]?.digest, zstd.config.rootfs.diff_ids[0]);
  });

  test('bad values are refused before anything is built', () => {
    for (const [args, message] of [
      [['--compression', 'brotli'], /invalid --compression "brotli"/],
      [['--compression-level', '10'], /invalid --compression-level "10" for gzip/],
      [['--compression', 'zstd', '--compression-level', '23'], /invalid --compression-level "23" for zstd/],
      [['--compression', 'zstd', '--compression-level', 'max'], /invalid --compression-level "max"/],
      [['--compression', 'uncompressed', '--compression-level', '1'], /Uncompressed layers take no level/],
    ] as const) {
      const r = strata('build', ...args, env.context);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const help = strata('build', '--help');
    assert.match(help.stdout, /--compression string/);
    assert.match(help.stdout, /--compression-level int/);
  });
});
