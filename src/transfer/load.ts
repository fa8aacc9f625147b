// `strata load`: image archives into the store, in one streaming pass over the input (which may
// be gzip, bzip2, xz or zstd compressed). Every file body goes straight into the content store
// (blobs/<alg>/<hex> verified against its name); only the small metadata files (manifest.json,
// index.json, oci-layout, repositories, classic <hex>.json configs) are held in memory. Then the
// images are assembled:
//
//   index.json (OCI image layout, and Docker >= 25's docker save): each manifest is recorded as
//     it is (its digest, media types and compression kept); an index entry is resolved to the
//     manifest for this platform (attestation manifests skipped), and its names point at the
//     index, so the repository digest stays the one registries know. Names come from io.containerd.image.name, or from
//     org.opencontainers.image.ref.name when that is a full reference (a bare tag names nothing,
//     as with docker load), plus manifest.json's RepoTags of the same config.
//   manifest.json only (classic docker save: <id>/layer.tar, <hex>.json): a Docker schema 2
//     manifest is written over the layers as they came. Uncompressed layers (the usual case) are
//     stored as they are, so digest = diffID, media type ...rootfs.diff.tar; gzip'd ones keep
//     their compression and are checked against their diff_id by decompressing them once.
//     Either way nothing is recompressed: load is a copy, and push may compress later.
//
// Blobs of a failed load stay unreferenced in the content store until GC removes them.

import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { decompressLayer, detectCompression } from '../archive/layer-stream.js';
import { readTar } from '../archive/tar-reader.js';
import { type Digest, isDigest, sha256Of } from '../digest/digest.js';
import { BuilderError, DigestMismatchError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType, MediaTypes } from '../oci/media-types.js';
import { parseConfig, parseIndex } from '../oci/parse.js';
import { descriptorOf, serializeManifest } from '../oci/serialize.js';
import type { Descriptor, Manifest } from '../oci/types.js';
import { parseReference } from '../reference/reference.js';
import type { ContentStore } from '../store/content/content-store.js';
import type { ImageStore, StoredImage } from '../store/image-store.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME } from './save.js';

export interface LoadStore {
  content: ContentStore;
  images: ImageStore;
}

export interface LoadOptions {
  signal?: AbortSignal;
}

export interface LoadedImage {
  image: StoredImage;
  /** Full names set by this load. */
  names: string[];
}

export interface LoadResult {
  images: LoadedImage[];
  /** What docker load prints: `Loaded image: app:1.0`, `Loaded image ID: sha256:…`. */
  lines: string[];
}

type ArchiveFile =
  | { kind: 'blob'; digest: Digest; size: number }
  | { kind: 'bytes'; bytes: Buffer }
  | { kind: 'link'; target: string };

const MAX_METADATA = 16 * 1024 * 1024;
const BLOB_PATH_RE = /^blobs\/(sha256|sha384|sha512)\/([a-f0-9]+)$/;

function normalizePath(path: string): string | undefined {
  const clean = posix.normalize(`/${path}`).slice(1).replace(/\/+$/, '');
  return clean === '' || clean.startsWith('..') ? undefined : clean;
}

function isMetadataPath(path: string): boolean {
  if (['manifest.json', 'index.json', 'oci-layout', 'repositories'].includes(path)) return true;
  if (!path.includes('/') && path.endsWith('.json')) return true; // classic <hex>.json config
  return /^[^/]+\/(json|VERSION)$/.test(path);
}

async function readAll(stream: Readable, limit: number, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit)
      throw new BuilderError('EINVAL', `${path} in the archive is larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function notAnArchive(detail: string): BuilderError {
  return new BuilderError('EINVAL', `not an image archive: ${detail}`, {
    hint: 'strata load reads what docker save, strata save and skopeo (docker-archive:, oci-archive:) write',
  });
}

interface ClassicEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

function parseManifestJson(bytes: Buffer): ClassicEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw notAnArchive(`manifest.json is not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(value)) throw notAnArchive('manifest.json is not a list');
  return value.map((e, i) => {
    const o = e as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null || typeof o.Config !== 'string' || !Array.isArray(o.Layers))
      throw notAnArchive(`manifest.json entry ${i} needs Config and Layers`);
    const tags = Array.isArray(o.RepoTags)
      ? o.RepoTags.filter((t): t is string => typeof t === 'string')
      : [];
    return { Config: o.Config, RepoTags: tags, Layers: o.Layers.map(String) };
  });
}

/** Reads an archive from `input` into the store and records (and names) its images. */
export async function loadArchive(
  store: LoadStore,
  input: Readable | AsyncIterable<Uint8Array>,
  options: LoadOptions = {},
): Promise<LoadResult> {
  const { content, images } = store;
  const signal = options.signal;
  const writeOpts = signal === undefined ? {} : { signal };
  const files = new Map<string, ArchiveFile>();

  const { tar } = await decompressLayer(input);
  let entries = 0;
  for await (const entry of readTar(tar, signal === undefined ? {} : { signal })) {
    entries++;
    const path = normalizePath(entry.path);
    if (path === undefined) continue;
    if (entry.type === 'symlink') {
      const target = entry.linkname.startsWith('/')
        ? entry.linkname
        : posix.join(posix.dirname(path), entry.linkname);
      const clean = normalizePath(target);
      if (clean !== undefined) files.set(path, { kind: 'link', target: clean });
      continue;
    }
    if (entry.type === 'hardlink') {
      const clean = normalizePath(entry.linkname);
      if (clean !== undefined) files.set(path, { kind: 'link', target: clean });
      continue;
    }
    if (entry.type !== 'file') continue;
    const blobName = BLOB_PATH_RE.exec(path);
    const expected = blobName === null ? undefined : `${blobName[1]}:${blobName[2]}`;
    if (expected !== undefined && isDigest(expected)) {
      const r = await content.write(entry.body, {
        ...writeOpts,
        expectedDigest: expected,
        expectedSize: entry.size,
      });
      files.set(path, { kind: 'blob', digest: r.digest, size: r.size });
    } else if (isMetadataPath(path) && entry.size <= MAX_METADATA) {
      files.set(path, { kind: 'bytes', bytes: await readAll(entry.body, MAX_METADATA, path) });
    } else {
      const r = await content.write(entry.body, { ...writeOpts, expectedSize: entry.size });
      files.set(path, { kind: 'blob', digest: r.digest, size: r.size });
    }
  }
  if (entries === 0) throw notAnArchive('the input is empty');

  const lookup = (path: string): ArchiveFile | undefined => {
    let p = normalizePath(path);
    for (let hops = 0; p !== undefined && hops < 16; hops++) {
      const f = files.get(p);
      if (f === undefined || f.kind !== 'link') return f;
      p = f.target;
    }
    return undefined;
  };
  const bytesOf = async (path: string): Promise<Buffer> => {
    const f = lookup(path);
    if (f === undefined) throw notAnArchive(`${path} is missing`);
    if (f.kind === 'bytes') return f.bytes;
    if (f.kind === 'blob') return Buffer.from(await content.readBytes(f.digest, writeOpts));
    throw notAnArchive(`${path} is a dangling link`);
  };
  const blobOf = async (path: string): Promise<{ digest: Digest; size: number }> => {
    const f = lookup(path);
    if (f === undefined) throw notAnArchive(`${path} is missing`);
    if (f.kind === 'blob') return f;
    if (f.kind === 'bytes') {
      const r = await content.writeBytes(f.bytes, writeOpts);
      return { digest: r.digest, size: r.size };
    }
    throw notAnArchive(`${path} is a dangling link`);
  };

  const indexFile = lookup('index.json');
  const manifestFile = lookup('manifest.json');
  if (indexFile === undefined && manifestFile === undefined) {
    if (lookup('repositories') !== undefined)
      throw notAnArchive(
        'it is in the format of docker before 1.10 (no manifest.json), which is not supported',
      );
    throw notAnArchive('no manifest.json or index.json at its top');
  }
  const classic = manifestFile === undefined ? [] : parseManifestJson(await bytesOf('manifest.json'));

  const loaded: LoadedImage[] = [];
  const lines: string[] = [];
  const namesFor = new Map<string, Set<string>>();
  /** What a name of the image points at: the index it came in, when it came in one. */
  const targets = new Map<string, Descriptor>();
  const addName = (id: string, name: string) => {
    const set = namesFor.get(id) ?? new Set<string>();
    set.add(name);
    namesFor.set(id, set);
  };
  const order: StoredImage[] = [];
  const remember = (image: StoredImage) => {
    if (!order.some((i) => i.id === image.id)) order.push(image);
  };
  const fullName = (text: string): string | undefined => {
    try {
      const ref = parseReference(text);
      return ref.digest === undefined ? ref.toString() : undefined;
    } catch {
      return undefined;
    }
  };

  const done = new Set<string>();
  if (indexFile !== undefined) {
    const index = parseIndex(await bytesOf('index.json'));
    for (const desc of index.manifests) {
      if (!isManifestMediaType(desc.mediaType) && !isIndexMediaType(desc.mediaType)) continue;
      if (isAttestation(desc)) continue; // BuildKit provenance/SBOM manifests are not images
      const { manifestDescriptor } = await images.resolve(desc);
      const image = await images.putManifest(manifestDescriptor);
      await recordUncompressed(images, image);
      remember(image);
      done.add(image.id);
      const annotated = desc.annotations?.[ANNOTATION_IMAGE_NAME];
      const refName = desc.annotations?.[ANNOTATION_REF_NAME];
      const name =
        (annotated === undefined ? undefined : fullName(annotated)) ??
        (refName !== undefined && /[:/]/.test(refName) ? fullName(refName) : undefined);
      if (isIndexMediaType(desc.mediaType) && !targets.has(image.id))
        targets.set(image.id, { mediaType: desc.mediaType, digest: desc.digest, size: desc.size });
      if (name !== undefined) addName(image.id, name);
    }
  }

  for (const entry of classic) {
    const configBytes = await bytesOf(entry.Config);
    const id = sha256Of(configBytes);
    if (!done.has(id)) {
      const image = await loadClassic(store, entry, configBytes, blobOf, writeOpts);
      remember(image);
      done.add(image.id);
    }
    for (const tag of entry.RepoTags) {
      const name = fullName(tag);
      if (name !== undefined) addName(id, name);
    }
  }

  for (const image of order) {
    const names = [...(namesFor.get(image.id) ?? [])];
    for (const name of names) {
      const { replaced } = await images.tag(targets.get(image.id) ?? image, name);
      if (replaced !== undefined)
        lines.push(
          `The image ${parseReference(name).familiarString()} already exists, renaming the old one with ID ${replaced} to empty string`,
        );
      lines.push(`Loaded image: ${parseReference(name).familiarString()}`);
    }
    if (names.length === 0) lines.push(`Loaded image ID: ${image.id}`);
    loaded.push({ image: await images.get(image.id), names });
  }
  return { images: loaded, lines };
}

function isAttestation(d: Descriptor): boolean {
  return (
    d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || d.platform?.os === 'unknown'
  );
}

/** Records the size of each uncompressed layer (digest = diffID), which costs nothing now. */
async function recordUncompressed(images: ImageStore, image: StoredImage): Promise<void> {
  for (const [i, layer] of image.manifest.layers.entries()) {
    const diffId = image.config.rootfs.diff_ids[i];
    if (diffId !== undefined && layer.digest === diffId) await images.recordLayer(diffId, layer.size);
  }
}

async function loadClassic(
  store: LoadStore,
  entry: ClassicEntry,
  configBytes: Buffer,
  blobOf: (path: string) => Promise<{ digest: Digest; size: number }>,
  writeOpts: { signal?: AbortSignal },
): Promise<StoredImage> {
  const { content, images } = store;
  const config = parseConfig(configBytes);
  const configDescriptor = descriptorOf(configBytes, MediaTypes.dockerConfig);
  await content.writeBytes(configBytes, {
    ...writeOpts,
    expectedDigest: configDescriptor.digest,
    expectedSize: configDescriptor.size,
  });
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== entry.Layers.length) {
    throw new BuilderError(
      'EINVAL',
      `image ${configDescriptor.digest}: manifest.json lists ${entry.Layers.length} layers, its config ${diffIds.length} diff_ids`,
    );
  }
  const layers: Descriptor[] = [];
  for (const [i, path] of entry.Layers.entries()) {
    const diffId = diffIds[i] as Digest;
    const blob = await blobOf(path);
    const head = await readHead(content, blob.digest);
    const compression = detectCompression(head);
    if (compression === 'none') {
      if (blob.digest !== diffId) throw new DigestMismatchError(diffId, blob.digest, `layer ${path}`);
      await images.recordLayer(diffId, blob.size);
      layers.push({ mediaType: MediaTypes.dockerLayer, digest: blob.digest, size: blob.size });
    } else if (compression === 'gzip') {
      const descriptor = { mediaType: MediaTypes.dockerLayerGzip, digest: blob.digest, size: blob.size };
      await images.layerSize(diffId, descriptor, writeOpts); // decompresses once, checks the diff_id
      layers.push(descriptor);
    } else {
      throw new BuilderError(
        'EPRECONDITION',
        `layer ${path} is ${compression}-compressed, which is not supported`,
      );
    }
  }
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.dockerManifest,
    config: configDescriptor,
    layers,
  };
  const bytes = serializeManifest(manifest);
  const manifestDescriptor = descriptorOf(bytes, MediaTypes.dockerManifest);
  await content.writeBytes(bytes, {
    ...writeOpts,
    expectedDigest: manifestDescriptor.digest,
    expectedSize: manifestDescriptor.size,
  });
  return images.putManifest(manifestDescriptor);
}

async function readHead(content: ContentStore, digest: Digest): Promise<Uint8Array> {
  const stream = await content.open(digest);
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      n += (chunk as Buffer).length;
      if (n >= 6) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, 6);
}
