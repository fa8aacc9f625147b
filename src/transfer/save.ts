// `strata save`: images from the store into one tar archive, streamed (flat memory).
//
// format 'docker' (default) — what `docker save` writes since Docker 25, which both old and new
// `docker load` accept:
//   blobs/sha256/<hex>   config (as stored), layers UNCOMPRESSED (as docker writes them; a
//                        gzip or zstd stored layer is decompressed on the fly and checked against
//                        its diffID: a zstd image saves as well as any other), and an OCI
//                        manifest over those layers (the stored manifest itself when its layers
//                        are already uncompressed OCI layers)
//   index.json           OCI index: one descriptor per name, annotated
//                        io.containerd.image.name=<full name>, org.opencontainers.image.ref.name=<tag>
//   manifest.json        [{"Config":"blobs/sha256/…","RepoTags":["app:1.0"],"Layers":[…]}]
//   oci-layout           {"imageLayoutVersion":"1.0.0"}
//   repositories         {"app":{"1.0":"<hex of the top layer>"}} (legacy; only for tagged images)
// The image ID (config digest) is preserved; the manifest digest is when the stored layers are
// uncompressed OCI layers.
//
// format 'oci' — an OCI image layout (oci-archive) that skopeo and umoci read: the stored blobs
// byte for byte (compressed layers stay compressed), index.json with the same annotations, and
// oci-layout. A manifest stored with Docker media types is rewritten with the OCI ones (same
// config and layer bytes), so the archive is pure OCI. Two names with the same tag in different
// repositories give two index entries with the same ref.name; tools that select by ref.name
// then need the full name.

import { pipeline as pipelineCallback, Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompressLayer } from '../archive/layer-stream.js';
import { type TarWriterEntry, tarStream } from '../archive/tar-writer.js';
import { type Digest, digestHex } from '../digest/digest.js';
import { verifyStream } from '../digest/verify-stream.js';
import { BuilderError } from '../errors.js';
import { goJsonStringify } from '../oci/go-json.js';
import { layerCompression, MediaTypes, toOciMediaType } from '../oci/media-types.js';
import { descriptorOf, serializeIndex, serializeManifest } from '../oci/serialize.js';
import type { Descriptor, Index, Manifest } from '../oci/types.js';
import { parseReference } from '../reference/reference.js';
import type { BlobInfoProvider, BlobProvider } from '../store/content/content-store.js';
import type { ImageStore, StoredImage } from '../store/image-store.js';

export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

export type SaveFormat = 'docker' | 'oci';

export interface SaveStore {
  content: BlobProvider & BlobInfoProvider;
  images: ImageStore;
}

/** One image to save and the names to save it under (full references). */
export interface SaveRequest {
  image: StoredImage;
  names: string[];
}

export interface SaveOptions {
  format?: SaveFormat;
  /**
   * OCI format only: the form each stored layer is written in (`build --output type=oci` gzips
   * uncompressed layers, as BuildKit's OCI exporter does). Default: as stored.
   */
  layerForm?: (layer: Descriptor) => Promise<Descriptor>;
  /** End `out` when done (default true). */
  end?: boolean;
  signal?: AbortSignal;
}

export interface SaveResult {
  images: number;
  /** Bytes written. */
  size: number;
}

/**
 * What to save for each argument, as docker save: a name saves the image under that name; an
 * ID (or `name@digest`) saves it without names. Arguments naming the same image are merged.
 */
export async function resolveSaveRequests(
  images: ImageStore,
  refs: readonly string[],
): Promise<SaveRequest[]> {
  const out: SaveRequest[] = [];
  for (const ref of refs) {
    const image = await images.get(ref);
    let name: string | undefined;
    try {
      const parsed = parseReference(ref);
      if (parsed.digest === undefined && image.names.includes(parsed.toString())) name = parsed.toString();
    } catch {
      // an ID
    }
    const existing = out.find((r) => r.image.id === image.id);
    const request = existing ?? { image, names: [] };
    if (name !== undefined && !request.names.includes(name)) request.names.push(name);
    if (existing === undefined) out.push(request);
  }
  return out;
}

interface BlobEntry {
  digest: Digest;
  size: number;
  open: () => Promise<Readable> | Readable;
}

function bytesEntry(bytes: Uint8Array): BlobEntry {
  const d = descriptorOf(bytes, 'application/octet-stream');
  return { digest: d.digest, size: d.size, open: () => toReadable(bytes) };
}

function toReadable(bytes: Uint8Array): Readable {
  return Readable.from([Buffer.from(bytes)], { objectMode: false });
}

function tagOf(name: string): string | undefined {
  try {
    return parseReference(name).tag;
  } catch {
    return undefined;
  }
}

function annotationsFor(name: string): Record<string, string> {
  const tag = tagOf(name);
  return tag === undefined
    ? { [ANNOTATION_IMAGE_NAME]: name }
    : { [ANNOTATION_IMAGE_NAME]: name, [ANNOTATION_REF_NAME]: tag };
}

function indexEntries(descriptor: Descriptor, names: string[]): Descriptor[] {
  const plain: Descriptor = {
    mediaType: descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
  };
  if (names.length === 0) return [plain];
  return names.map((name) => ({ ...plain, annotations: annotationsFor(name) }));
}

const FILE = { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0 };
const DIR = { type: 'dir' as const, mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 };

function fileEntry(path: string, bytes: Uint8Array): TarWriterEntry {
  return { ...FILE, path, size: bytes.byteLength, open: () => [Buffer.from(bytes)] };
}

/** The stored layer as an uncompressed tar stream, verified against its diffID and size. */
async function openUncompressed(
  content: BlobProvider,
  layer: Descriptor,
  diffId: Digest,
  size: number,
  signal: AbortSignal | undefined,
): Promise<Readable> {
  const blob = await content.open(layer.digest, signal === undefined ? {} : { signal });
  const { tar } = await decompressLayer(blob);
  const verifier = verifyStream(diffId, size, { what: `uncompressed layer ${layer.digest}` });
  pipelineCallback(tar, verifier, () => {});
  return verifier;
}

/** Plans the blobs and the metadata files of the archive. */
async function plan(
  store: SaveStore,
  requests: SaveRequest[],
  format: SaveFormat,
  signal: AbortSignal | undefined,
  layerForm?: (layer: Descriptor) => Promise<Descriptor>,
): Promise<{ blobs: Map<string, BlobEntry>; files: Array<[string, Uint8Array]> }> {
  const blobs = new Map<string, BlobEntry>();
  const stored = (d: Descriptor): BlobEntry => ({
    digest: d.digest,
    size: d.size,
    open: () => store.content.open(d.digest, signal === undefined ? {} : { signal }),
  });
  const add = (entry: BlobEntry) => {
    if (!blobs.has(entry.digest)) blobs.set(entry.digest, entry);
  };
  const index: Index = { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
  const dockerManifest: Array<Map<string, unknown>> = [];
  const repositories = new Map<string, Map<string, string>>();

  for (const { image, names } of requests) {
    const { manifest, config } = image;
    add(stored(manifest.config));
    if (format === 'oci') {
      const layers: Descriptor[] = [];
      for (const layer of manifest.layers)
        layers.push(layerForm === undefined ? layer : await layerForm(layer));
      for (const layer of layers) add(stored(layer));
      let descriptor = image.manifestDescriptor;
      const needsOci =
        descriptor.mediaType !== MediaTypes.ociManifest ||
        manifest.config.mediaType !== MediaTypes.ociConfig ||
        layers.some(
          (l, i) => toOciMediaType(l.mediaType) !== l.mediaType || l.digest !== manifest.layers[i]?.digest,
        );
      if (needsOci) {
        const converted: Manifest = {
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          config: { ...manifest.config, mediaType: MediaTypes.ociConfig },
          layers: layers.map((l) => ({ ...l, mediaType: toOciMediaType(l.mediaType) })),
        };
        if (manifest.annotations !== undefined) converted.annotations = manifest.annotations;
        const bytes = serializeManifest(converted);
        descriptor = descriptorOf(bytes, MediaTypes.ociManifest);
        add(bytesEntry(bytes));
      } else {
        add(stored(descriptor));
      }
      index.manifests.push(...indexEntries(descriptor, names));
      continue;
    }

    // docker: uncompressed layers under their diffIDs
    const diffIds = config.rootfs.diff_ids;
    const layers: Descriptor[] = [];
    for (const [i, layer] of manifest.layers.entries()) {
      const diffId = diffIds[i];
      if (diffId === undefined)
        throw new BuilderError('EINVAL', `image ${image.id}: layer ${i} has no diff_id`);
      if (layerCompression(layer.mediaType) === 'none' && layer.digest === diffId) {
        add(stored(layer));
        layers.push({ mediaType: MediaTypes.ociLayer, digest: diffId, size: layer.size });
        continue;
      }
      const size = await store.images.layerSize(diffId, layer, signal === undefined ? {} : { signal });
      add({ digest: diffId, size, open: () => openUncompressed(store.content, layer, diffId, size, signal) });
      layers.push({ mediaType: MediaTypes.ociLayer, digest: diffId, size });
    }
    let descriptor = image.manifestDescriptor;
    const reusable =
      descriptor.mediaType === MediaTypes.ociManifest &&
      manifest.config.mediaType === MediaTypes.ociConfig &&
      manifest.layers.every((l, i) => l.mediaType === MediaTypes.ociLayer && l.digest === diffIds[i]);
    if (reusable) {
      add(stored(descriptor));
    } else {
      const ociManifest: Manifest = {
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: {
          mediaType: MediaTypes.ociConfig,
          digest: manifest.config.digest,
          size: manifest.config.size,
        },
        layers,
      };
      const bytes = serializeManifest(ociManifest);
      descriptor = descriptorOf(bytes, MediaTypes.ociManifest);
      add(bytesEntry(bytes));
    }
    index.manifests.push(...indexEntries(descriptor, names));
    const repoTags: string[] = [];
    for (const name of names) {
      const ref = parseReference(name);
      repoTags.push(ref.familiarString());
      const top = layers[layers.length - 1];
      if (ref.tag !== undefined && top !== undefined) {
        const repo = repositories.get(ref.familiarName()) ?? new Map<string, string>();
        repo.set(ref.tag, digestHex(top.digest));
        repositories.set(ref.familiarName(), repo);
      }
    }
    dockerManifest.push(
      new Map<string, unknown>([
        ['Config', `blobs/sha256/${digestHex(manifest.config.digest)}`],
        ['RepoTags', repoTags.length === 0 ? null : repoTags],
        ['Layers', layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`)],
      ]),
    );
  }

  const files: Array<[string, Uint8Array]> = [['index.json', serializeIndex(index)]];
  if (format === 'docker') {
    files.push(['manifest.json', Buffer.from(`${goJsonStringify(dockerManifest)}\n`)]);
  }
  files.push(['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')]);
  if (format === 'docker' && repositories.size > 0) {
    const value = new Map([...repositories].map(([repo, tags]) => [repo, new Map(tags)]));
    files.push(['repositories', Buffer.from(`${goJsonStringify(value)}\n`)]);
  }
  return { blobs, files };
}

/** Writes the archive of `refs` (names or IDs, or resolved requests) to `out`. */
export async function saveImages(
  store: SaveStore,
  refs: ReadonlyArray<string | SaveRequest>,
  out: Writable | NodeJS.WritableStream,
  options: SaveOptions = {},
): Promise<SaveResult> {
  const format = options.format ?? 'docker';
  if (format !== 'docker' && format !== 'oci')
    throw new BuilderError('EINVAL', `unknown archive format ${JSON.stringify(format)} (docker or oci)`);
  if (refs.length === 0) throw new BuilderError('EINVAL', 'nothing to save: give at least one image');
  const requests: SaveRequest[] = [];
  const byName = await resolveSaveRequests(
    store.images,
    refs.filter((r): r is string => typeof r === 'string'),
  );
  for (const r of refs) if (typeof r !== 'string') requests.push(r);
  for (const r of byName) {
    const same = requests.find((x) => x.image.id === r.image.id);
    if (same === undefined) requests.push(r);
    else for (const n of r.names) if (!same.names.includes(n)) same.names.push(n);
  }
  const { blobs, files } = await plan(store, requests, format, options.signal, options.layerForm);

  async function* entries(): AsyncGenerator<TarWriterEntry> {
    yield { ...DIR, path: 'blobs/' };
    yield { ...DIR, path: 'blobs/sha256/' };
    for (const blob of [...blobs.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1))) {
      if (!blob.digest.startsWith('sha256:'))
        throw new BuilderError('EINVAL', `cannot save blob ${blob.digest}: only sha256 is supported`);
      yield { ...FILE, path: `blobs/sha256/${digestHex(blob.digest)}`, size: blob.size, open: blob.open };
    }
    for (const [path, bytes] of files) yield fileEntry(path, bytes);
  }

  let size = 0;
  const counter = async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      size += chunk.length;
      yield chunk;
    }
  };
  await pipeline(
    tarStream(entries(), options.signal === undefined ? {} : { signal: options.signal }),
    counter,
    out,
    { ...(options.signal === undefined ? {} : { signal: options.signal }), end: options.end ?? true },
  );
  return { images: requests.length, size };
}
