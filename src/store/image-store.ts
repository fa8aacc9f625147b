// Images in the local store: OCI (or Docker schema 2) manifests and configs in the content store,
// plus two kinds of mutable records in the metadata store.
//
//   names/<escaped full reference>.json      name → target descriptor (a manifest, or an index),
//       e.g. docker.io/library/app:1.0 → {mediaType, digest, size}; label org.strata.image.id
//       caches the image ID the target resolves to (a name without it is resolved by reading
//       the manifest).
//   records/images/<escaped image ID>.json   image ID (config digest) → {target: manifest
//       descriptor, createdAt}: an image exists while it has a record, names or not, so a
//       dangling build result is still found by its ID. A second manifest for the same config
//       (another compression, Docker vs OCI media types) replaces the record's target; names
//       may point at either.
//   records/layers/<escaped diffID>.json     diffID → {size}: the uncompressed size of a layer,
//       recorded when a layer is written or loaded (history and `images` need it) and computed
//       by reading the layer once when missing.
//
// Order of writes, so that a crash anywhere leaves a consistent store: blobs (config, manifest;
// layers before that) → image record → names. Removal goes the other way: names → record;
// blobs are reclaimed only by GC (gc.ts). put() checks that every blob the image needs is present
// and writes the record while holding the GC lock, so a concurrent prune cannot sweep a blob
// between that check and the record that makes it live.
//
// Docker's media types are accepted as they come (a manifest is stored byte for byte); put()
// writes OCI documents unless asked for Docker's.

import { type Digest, digestHex, isDigest } from '../digest/digest.js';
import { BuilderError, DigestMismatchError, isBuilderError } from '../errors.js';
import {
  isConfigMediaType,
  isForeignLayerMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  layerCompression,
  MediaTypes,
  toDockerMediaType,
  toOciMediaType,
} from '../oci/media-types.js';
import { parseConfig, parseIndex, parseManifest, toDescriptor } from '../oci/parse.js';
import { hostPlatform, platformMatches } from '../oci/platform.js';
import { descriptorOf, serializeConfig, serializeManifest } from '../oci/serialize.js';
import type { Annotations, Descriptor, ImageConfig, Manifest, Platform } from '../oci/types.js';
import { parseReference, type Reference } from '../reference/reference.js';
import type { ContentStore } from './content/content-store.js';
import type { FsMetaStore } from './meta/meta-store.js';
import type { NameRecord } from './meta/name-store.js';
import type { FsRecordStore } from './meta/record-store.js';
import { measureUncompressedLayer } from './uncompressed-layer.js';

/** The label on a name record that caches the image ID its target resolves to. */
export const IMAGE_ID_LABEL = 'org.strata.image.id';
/** Lock taken by GC, and by put() around its final check-and-record. */
export const GC_LOCK = 'gc';

export interface StoredImage {
  /** The config digest: Docker's image ID. */
  id: Digest;
  manifestDescriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  /** Full references that name this image, sorted: `docker.io/library/app:1.0`. */
  names: string[];
  /** `repository@<digest of the manifest (or index) a name points at>`, sorted. */
  repoDigests: string[];
  /** When this store first recorded the image (RFC 3339); undefined for an image known by name only. */
  storedAt?: string;
  /** The newest time one of its names was set (RFC 3339). */
  lastTagTime?: string;
}

/** What a read or a put gives besides the image itself. */
export interface NameOptions {
  /**
   * Default true. False leaves `names` and `repoDigests` empty, unlooked-up: for a caller that
   * needs the image only (a build's base, a build's result before its tags), as listing every
   * name cost ~0.3-0.8 ms per call.
   */
  names?: boolean;
}

export interface PutOptions extends NameOptions {
  /** Media type family of the manifest and config written. Default 'oci'. */
  mediaTypes?: 'oci' | 'docker';
  /** Manifest annotations. */
  annotations?: Annotations;
  signal?: AbortSignal;
}

export interface RemoveResult {
  untagged: string[];
  deleted: Digest[];
  /** What docker prints: `Untagged: app:1.0`, `Deleted: sha256:…`. */
  lines: string[];
}

export interface ImageRecordValue {
  target: Descriptor;
  /** RFC 3339 */
  createdAt: string;
}

export interface LayerRecordValue {
  /** Bytes of the uncompressed layer tar. */
  size: number;
}

function validateImageRecord(value: unknown): ImageRecordValue {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null) throw new BuilderError('EINVAL', 'image record must be an object');
  if (typeof v.createdAt !== 'string') throw new BuilderError('EINVAL', 'image record needs createdAt');
  return { target: toDescriptor(v.target, 'image record target'), createdAt: v.createdAt };
}

function validateLayerRecord(value: unknown): LayerRecordValue {
  const v = value as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null || !Number.isSafeInteger(v.size) || (v.size as number) < 0)
    throw new BuilderError('EINVAL', 'layer record needs a non-negative integer size');
  return { size: v.size as number };
}

const ID_PREFIX_RE = /^(?:sha256:)?([a-f0-9]{4,64})$/;
const MIN_ID_PREFIX = 4;

/** The image ID shortened as docker prints it: 12 hex digits, no algorithm. */
export function shortId(id: string): string {
  return (id.includes(':') ? id.slice(id.indexOf(':') + 1) : id).slice(0, 12);
}

function noSuchImage(input: string): BuilderError {
  return new BuilderError('ENOTFOUND', `No such image: ${input}`, {
    hint: 'strata images lists what is stored; get images with strata pull, strata load or strata import',
  });
}

interface Resolved {
  manifestDescriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
  id: Digest;
}

interface NamedTarget {
  record: NameRecord;
  ref: Reference;
  id: Digest;
}

export class ImageStore {
  readonly content: ContentStore;
  readonly meta: FsMetaStore;
  readonly records: FsRecordStore<ImageRecordValue>;
  readonly layers: FsRecordStore<LayerRecordValue>;
  readonly platform: Platform;
  readonly #sizing = new Map<string, Promise<number>>();

  constructor(content: ContentStore, meta: FsMetaStore, options: { platform?: Platform } = {}) {
    this.content = content;
    this.meta = meta;
    this.records = meta.records('images', validateImageRecord);
    this.layers = meta.records('layers', validateLayerRecord);
    this.platform = options.platform ?? hostPlatform();
  }

  // ---------------------------------------------------------------------------------------
  // Reading

  /** The image a name, `name@digest` or (short) ID refers to; ENOTFOUND with a hint otherwise. */
  async get(refOrId: string, options: NameOptions = {}): Promise<StoredImage> {
    const image = await this.find(refOrId, options);
    if (image === undefined) throw noSuchImage(refOrId);
    return image;
  }

  /** As get(), but undefined when nothing matches. Ambiguous short IDs are EINVAL. */
  async find(refOrId: string, options: NameOptions = {}): Promise<StoredImage | undefined> {
    const withNames = options.names !== false;
    const input = refOrId.trim();
    if (input === '') throw new BuilderError('EINVAL', 'an image name or ID is required');
    if (isDigest(input)) return this.#byId(input, withNames);
    let ref: Reference | undefined;
    try {
      ref = parseReference(input);
    } catch (err) {
      if (!ID_PREFIX_RE.test(input)) throw err;
    }
    if (ref !== undefined) {
      const image = await this.#byReference(ref, withNames);
      if (image !== undefined) return image;
    }
    const m = ID_PREFIX_RE.exec(input);
    if (m === null) return undefined;
    return this.#byIdPrefix(m[1] as string, withNames);
  }

  /** Every image: those with a record and those known only through a name. Newest first. */
  async list(): Promise<StoredImage[]> {
    const [records, named] = await Promise.all([this.records.list(), this.#namedTargets()]);
    const byId = new Map<string, NamedTarget[]>();
    for (const n of named) byId.set(n.id, [...(byId.get(n.id) ?? []), n]);
    const out: StoredImage[] = [];
    const seen = new Set<string>();
    for (const rec of records) {
      if (!isDigest(rec.key)) continue;
      seen.add(rec.key);
      const image = await this.#materialize(
        rec.value.target,
        byId.get(rec.key) ?? [],
        rec.value.createdAt,
      ).catch(() => undefined);
      if (image !== undefined) out.push(image);
    }
    for (const [id, names] of byId) {
      if (seen.has(id)) continue;
      const image = await this.#materialize(names[0]!.record.target, names, undefined).catch(() => undefined);
      if (image !== undefined) out.push(image);
    }
    return out.sort(
      (a, b) =>
        (Date.parse(b.config.created ?? '') || 0) - (Date.parse(a.config.created ?? '') || 0) ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
  }

  async #byId(id: Digest, withNames = true): Promise<StoredImage | undefined> {
    const [rec, named] = await Promise.all([
      this.records.get(id),
      withNames ? this.#namedTargets('labels') : [],
    ]);
    const names = named.filter((n) => n.id === id);
    if (rec !== undefined) return this.#materialize(rec.value.target, names, rec.value.createdAt);
    if (names.length > 0) return this.#materialize(names[0]!.record.target, names, undefined);
    return undefined;
  }

  async #byIdPrefix(hexPrefix: string, withNames: boolean): Promise<StoredImage | undefined> {
    if (hexPrefix.length < MIN_ID_PREFIX) return undefined;
    const [records, named] = await Promise.all([this.records.list(), this.#namedTargets()]);
    const ids = new Set<string>();
    for (const r of records) if (isDigest(r.key) && digestHex(r.key).startsWith(hexPrefix)) ids.add(r.key);
    for (const n of named) if (digestHex(n.id).startsWith(hexPrefix)) ids.add(n.id);
    if (ids.size > 1) {
      throw new BuilderError('EINVAL', `multiple IDs found with provided prefix: ${hexPrefix}`, {
        hint: 'give more digits of the image ID',
      });
    }
    const [id] = [...ids];
    return id === undefined ? undefined : this.#byId(id as Digest, withNames);
  }

  async #byReference(ref: Reference, withNames: boolean): Promise<StoredImage | undefined> {
    const record = await this.meta.names.get(ref.toString());
    if (record !== undefined) {
      const id = (await this.#idOfName(record).catch(() => undefined)) ?? undefined;
      if (id === undefined) return undefined;
      return this.#byId(id, withNames);
    }
    if (ref.digest === undefined) return undefined;
    // repo@digest without a record of that exact name: an image of that repository whose
    // manifest (or the index a name points at) has that digest.
    const named = await this.#namedTargets();
    const match = named.find((n) => n.ref.name === ref.name && n.record.target.digest === ref.digest);
    if (match !== undefined) return this.#byId(match.id, withNames);
    for (const rec of await this.records.list()) {
      if (rec.value.target.digest !== ref.digest || !isDigest(rec.key)) continue;
      const names = named.filter((n) => n.id === rec.key);
      if (names.some((n) => n.ref.name === ref.name)) return this.#byId(rec.key, withNames);
    }
    return undefined;
  }

  /**
   * Every name with the image ID its target resolves to; names whose target is unreadable are
   * skipped. 'labels': only to list the names of an image already chosen (a build's result
   * does not depend on them: see store/meta/read-journal.ts).
   */
  async #namedTargets(use: 'selects' | 'labels' = 'selects'): Promise<NamedTarget[]> {
    const out: NamedTarget[] = [];
    for (const record of await this.meta.names.list({ dependency: use === 'selects' })) {
      let ref: Reference;
      try {
        ref = parseReference(record.name);
      } catch {
        continue;
      }
      const id = await this.#idOfName(record).catch(() => undefined);
      if (id !== undefined) out.push({ record, ref, id });
    }
    return out;
  }

  async #idOfName(record: NameRecord): Promise<Digest> {
    const label = record.labels?.[IMAGE_ID_LABEL];
    if (label !== undefined && isDigest(label)) return label;
    return (await this.resolve(record.target)).id;
  }

  /**
   * Reads the manifest a descriptor leads to (for an index: the manifest for this store's
   * platform, else the first one present) and its config.
   */
  async resolve(target: Descriptor): Promise<Resolved> {
    let manifestDescriptor = target;
    if (isIndexMediaType(target.mediaType)) manifestDescriptor = await this.#pickFromIndex(target);
    if (!isManifestMediaType(manifestDescriptor.mediaType)) {
      throw new BuilderError(
        'EINVAL',
        `${manifestDescriptor.digest} has media type ${manifestDescriptor.mediaType}, not an image manifest`,
      );
    }
    const bytes = await this.content.readBytes(manifestDescriptor.digest);
    const manifest = parseManifest(bytes);
    const configBytes = await this.content.readBytes(manifest.config.digest);
    const config = parseConfig(configBytes);
    return { manifestDescriptor, manifest, config, id: manifest.config.digest };
  }

  async #pickFromIndex(indexDescriptor: Descriptor, depth = 0): Promise<Descriptor> {
    if (depth > 4) throw new BuilderError('EINVAL', `image index ${indexDescriptor.digest} nests too deep`);
    const index = parseIndex(await this.content.readBytes(indexDescriptor.digest));
    const present: Descriptor[] = [];
    for (const d of index.manifests) {
      // BuildKit attestations ride along in indexes; they are not images.
      if (
        d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
        d.platform?.os === 'unknown'
      )
        continue;
      if (
        (isManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType)) &&
        (await this.content.has(d.digest))
      )
        present.push(d);
    }
    const chosen = present.find((d) => platformMatches(d.platform, this.platform)) ?? present[0];
    if (chosen === undefined) {
      throw new BuilderError(
        'ENOTFOUND',
        `image index ${indexDescriptor.digest} has no manifest in the store`,
      );
    }
    return isIndexMediaType(chosen.mediaType) ? this.#pickFromIndex(chosen, depth + 1) : chosen;
  }

  async #materialize(
    target: Descriptor,
    names: NamedTarget[],
    storedAt: string | undefined,
    known?: Resolved,
  ): Promise<StoredImage> {
    const resolved = known ?? (await this.resolve(target));
    const tags = new Set<string>();
    const repoDigests = new Set<string>();
    let lastTag: string | undefined;
    for (const n of names) {
      if (n.ref.tag !== undefined && n.ref.digest === undefined) tags.add(n.ref.toString());
      repoDigests.add(`${n.ref.name}@${n.ref.digest ?? n.record.target.digest}`);
      if (lastTag === undefined || n.record.updatedAt > lastTag) lastTag = n.record.updatedAt;
    }
    const image: StoredImage = {
      ...resolved,
      names: [...tags].sort(),
      repoDigests: [...repoDigests].sort(),
    };
    if (storedAt !== undefined) image.storedAt = storedAt;
    if (lastTag !== undefined) image.lastTagTime = lastTag;
    return image;
  }

  // ---------------------------------------------------------------------------------------
  // Writing

  /**
   * Writes `config` and a manifest over `layers` (blobs already in the content store), then
   * records the image. rootfs.diff_ids must have one entry per layer.
   */
  async put(config: ImageConfig, layers: Descriptor[], options: PutOptions = {}): Promise<StoredImage> {
    const family = options.mediaTypes ?? 'oci';
    if (family !== 'oci' && family !== 'docker')
      throw new BuilderError('EINVAL', `unknown media type family ${JSON.stringify(family)}`);
    if (config.rootfs?.type !== 'layers' || !Array.isArray(config.rootfs.diff_ids))
      throw new BuilderError('EINVAL', 'image config needs rootfs {type: "layers", diff_ids: […]}');
    if (config.rootfs.diff_ids.length !== layers.length) {
      throw new BuilderError(
        'EINVAL',
        `image config lists ${config.rootfs.diff_ids.length} diff_ids but ${layers.length} layers were given`,
      );
    }
    const convert = family === 'docker' ? toDockerMediaType : toOciMediaType;
    const manifestLayers = layers.map((layer, i) => {
      if (!isLayerMediaType(layer.mediaType))
        throw new BuilderError('EINVAL', `layer ${i} has media type ${layer.mediaType}, not a layer type`);
      return { ...layer, mediaType: convert(layer.mediaType) };
    });
    const configBytes = serializeConfig(config);
    const configDescriptor = descriptorOf(
      configBytes,
      family === 'docker' ? MediaTypes.dockerConfig : MediaTypes.ociConfig,
    );
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: family === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest,
      config: configDescriptor,
      layers: manifestLayers,
    };
    if (options.annotations !== undefined && Object.keys(options.annotations).length > 0)
      manifest.annotations = { ...options.annotations };
    const manifestBytes = serializeManifest(manifest);
    const manifestDescriptor = descriptorOf(manifestBytes, manifest.mediaType as string);
    // Their names made durable together, with those of layers a build wrote (deferDirSync),
    // before the record: one fsync of the blobs' directory instead of one per blob.
    await this.content.writeBytes(configBytes, this.#writeOptions(configDescriptor, options.signal));
    await this.content.writeBytes(manifestBytes, this.#writeOptions(manifestDescriptor, options.signal));
    await this.content.syncNames();
    // What resolve() would read back: parsed from the bytes just written, not read from disk.
    return this.#record(
      {
        manifestDescriptor,
        manifest: parseManifest(manifestBytes),
        config: parseConfig(configBytes),
        id: configDescriptor.digest,
      },
      options.names !== false,
    );
  }

  #writeOptions(d: Descriptor, signal: AbortSignal | undefined) {
    return signal === undefined
      ? { expectedDigest: d.digest, expectedSize: d.size, deferDirSync: true }
      : { expectedDigest: d.digest, expectedSize: d.size, deferDirSync: true, signal };
  }

  /**
   * Records an image whose manifest, config and layers are already in the content store (a
   * load, a pull): checks it is complete and consistent, then writes its image record.
   */
  async putManifest(manifestDescriptor: Descriptor): Promise<StoredImage> {
    if (!isManifestMediaType(manifestDescriptor.mediaType)) {
      throw new BuilderError('EINVAL', `media type ${manifestDescriptor.mediaType} is not an image manifest`);
    }
    return this.#record(await this.resolve(manifestDescriptor));
  }

  async #record(resolved: Resolved, withNames = true): Promise<StoredImage> {
    const { manifestDescriptor, manifest, config, id } = resolved;
    if (manifest.mediaType !== undefined && manifest.mediaType !== manifestDescriptor.mediaType) {
      throw new BuilderError(
        'EINVAL',
        `manifest ${manifestDescriptor.digest} says media type ${manifest.mediaType}, its descriptor ${manifestDescriptor.mediaType}`,
      );
    }
    if (!isConfigMediaType(manifest.config.mediaType))
      throw new BuilderError(
        'EINVAL',
        `config media type ${manifest.config.mediaType} is not an image config`,
      );
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new BuilderError(
        'EINVAL',
        `image ${id} has ${manifest.layers.length} layers but its config lists ${diffIds.length} diff_ids`,
      );
    }
    for (const [i, layer] of manifest.layers.entries()) {
      if (!isLayerMediaType(layer.mediaType))
        throw new BuilderError('EINVAL', `layer ${i} of ${id} has media type ${layer.mediaType}`);
    }
    return this.meta.withLock(GC_LOCK, async () => {
      // All at once; the first missing one in manifest order is the one reported.
      const checks = await Promise.all(
        [
          this.#checkBlob(manifestDescriptor, 'manifest'),
          this.#checkBlob(manifest.config, 'config'),
          ...manifest.layers.map((layer, i) =>
            isForeignLayerMediaType(layer.mediaType) && (layer.urls?.length ?? 0) > 0
              ? undefined
              : this.#checkBlob(layer, `layer ${i}`),
          ),
        ].map((check) =>
          check?.then(
            () => undefined,
            (err: unknown) => err ?? new Error('blob check failed'),
          ),
        ),
      );
      const missing = checks.find((e) => e !== undefined);
      if (missing !== undefined) throw missing;
      const previous = await this.records.get(id);
      const createdAt = previous?.value.createdAt ?? new Date().toISOString();
      const target = stripDescriptor(manifestDescriptor);
      // A rebuild from cache puts the same image again: rewriting the record would cost an fsync.
      if (previous === undefined || !sameDescriptor(previous.value.target, target))
        await this.records.put(id, { target, createdAt });
      const named = withNames ? (await this.#namedTargets('labels')).filter((n) => n.id === id) : [];
      return this.#materialize(manifestDescriptor, named, createdAt, resolved);
    });
  }

  async #checkBlob(d: Descriptor, what: string): Promise<void> {
    let size: number;
    try {
      size = (await this.content.stat(d.digest)).size;
    } catch (err) {
      if (isBuilderError(err) && err.code === 'ENOTFOUND')
        throw new BuilderError('ENOTFOUND', `${what} ${d.digest} is not in the store`, { cause: err });
      throw err;
    }
    if (size !== d.size)
      throw new BuilderError(
        'EDIGEST',
        `${what} ${d.digest} is ${size} bytes in the store, ${d.size} in its descriptor`,
      );
  }

  /**
   * Points `name` at an image (or a manifest/index descriptor already in the store).
   * Returns the full name and the ID of the image the name pointed at before, if another.
   */
  async tag(
    target: Pick<StoredImage, 'id' | 'manifestDescriptor'> | Descriptor,
    name: string,
  ): Promise<{ name: string; replaced?: Digest }> {
    const ref = parseReference(name);
    if (ref.digest !== undefined)
      throw new BuilderError('EINVAL', `refusing to create a tag with a digest reference: ${name}`);
    let descriptor: Descriptor;
    let id: Digest;
    if ('manifestDescriptor' in target) {
      descriptor = target.manifestDescriptor;
      id = target.id;
    } else {
      descriptor = stripDescriptor(target);
      if (isManifestMediaType(descriptor.mediaType)) id = (await this.putManifest(descriptor)).id;
      else if (isIndexMediaType(descriptor.mediaType)) id = (await this.resolve(descriptor)).id;
      else
        throw new BuilderError(
          'EINVAL',
          `cannot tag ${descriptor.digest}: media type ${descriptor.mediaType}`,
        );
    }
    const full = ref.toString();
    const before = await this.meta.names.get(full);
    // Already so (a rebuild from cache tags the same image): nothing to write, as docker.
    if (
      before !== undefined &&
      sameDescriptor(before.target, descriptor) &&
      before.labels?.[IMAGE_ID_LABEL] === id
    )
      return { name: full };
    const previousId = before === undefined ? undefined : await this.#idOfName(before).catch(() => undefined);
    await this.meta.names.set(full, descriptor, { labels: { [IMAGE_ID_LABEL]: id } });
    return previousId !== undefined && previousId !== id
      ? { name: full, replaced: previousId }
      : { name: full };
  }

  /** Removes one name; true when it existed. The image stays (by ID) even if this was its last name. */
  async untag(name: string): Promise<boolean> {
    return this.meta.names.delete(parseReference(name).toString());
  }

  /**
   * docker rmi: a name is untagged, and the image deleted when that was its last name; an ID
   * untags every name first, which needs `force` when they span several repositories.
   */
  async remove(refOrId: string, options: { force?: boolean } = {}): Promise<RemoveResult> {
    const image = await this.get(refOrId);
    const result: RemoveResult = { untagged: [], deleted: [], lines: [] };
    const named = (await this.#namedTargets()).filter((n) => n.id === image.id);
    const untag = async (n: NamedTarget) => {
      if (await this.meta.names.delete(n.record.name)) {
        const shown = n.ref.familiarString();
        result.untagged.push(n.record.name);
        result.lines.push(`Untagged: ${shown}`);
      }
    };
    const input = refOrId.trim();
    const prefix = ID_PREFIX_RE.exec(input)?.[1];
    const byId = isDigest(input)
      ? input === image.id
      : prefix !== undefined && digestHex(image.id).startsWith(prefix);
    let remaining: NamedTarget[];
    if (byId) {
      const repos = new Set(named.map((n) => n.ref.name));
      if (repos.size > 1 && options.force !== true) {
        throw new BuilderError(
          'EPRECONDITION',
          `conflict: unable to delete ${shortId(image.id)} (must be forced) - image is referenced in multiple repositories`,
          { hint: 'remove the names one by one, or use rmi -f' },
        );
      }
      for (const n of named) await untag(n);
      remaining = [];
    } else {
      const ref = parseReference(input);
      const exact = named.filter((n) => n.record.name === ref.toString());
      // `repo@digest` that is not a stored name: the names of that repository pointing at that digest.
      const chosen =
        exact.length > 0
          ? exact
          : named.filter((n) => n.ref.name === ref.name && n.record.target.digest === ref.digest);
      for (const n of chosen) await untag(n);
      remaining = named.filter((n) => !chosen.includes(n));
      if (
        ref.digest === undefined &&
        !remaining.some((n) => n.ref.name === ref.name && n.ref.digest === undefined)
      ) {
        // No tag of that repository left: its digest references go too (docker does the same).
        const digestRefs = remaining.filter((n) => n.ref.name === ref.name && n.ref.digest !== undefined);
        for (const n of digestRefs) await untag(n);
        remaining = remaining.filter((n) => !digestRefs.includes(n));
      }
    }
    if (remaining.length === 0) {
      await this.records.delete(image.id);
      result.deleted.push(image.id);
      result.lines.push(`Deleted: ${image.id}`);
    }
    return result;
  }

  // ---------------------------------------------------------------------------------------
  // Layer sizes

  /** Records the uncompressed size of a layer (writeLayer and load do this). */
  async recordLayer(diffId: Digest, size: number): Promise<void> {
    if (!isDigest(diffId)) throw new BuilderError('EINVAL', `invalid diffID ${JSON.stringify(diffId)}`);
    const current = await this.layers.get(diffId);
    if (current?.value.size === size) return;
    await this.layers.put(diffId, { size });
  }

  /**
   * The uncompressed size of a layer: from its record, from the descriptor of an uncompressed
   * layer, else by reading the blob once (checking it against `diffId`) and recording it.
   */
  async layerSize(
    diffId: Digest,
    layer: Descriptor,
    options: { signal?: AbortSignal } = {},
  ): Promise<number> {
    // An uncompressed layer is its own size: nothing to read, nothing to record.
    if (layerCompression(layer.mediaType) === 'none' && layer.digest === diffId) return layer.size;
    const rec = await this.layers.get(diffId);
    if (rec !== undefined) return rec.value.size;
    let pending = this.#sizing.get(diffId);
    if (pending === undefined) {
      pending = this.#measure(diffId, layer, options.signal);
      this.#sizing.set(diffId, pending);
      pending.finally(() => this.#sizing.delete(diffId)).catch(() => {});
    }
    return pending;
  }

  async #measure(diffId: Digest, layer: Descriptor, signal: AbortSignal | undefined): Promise<number> {
    const { diffId: actual, size } = await measureUncompressedLayer(this.content, layer, signal);
    if (actual !== diffId)
      throw new DigestMismatchError(diffId, actual, `uncompressed layer ${layer.digest}`);
    await this.recordLayer(diffId, size).catch(() => {});
    return size;
  }

  /** Sum of the uncompressed layer sizes (what docker shows as SIZE); a missing layer counts its blob size. */
  async imageSize(image: Pick<StoredImage, 'manifest' | 'config'>): Promise<number> {
    let total = 0;
    for (const [i, layer] of image.manifest.layers.entries())
      total += await this.#layerSizeOrBlob(image, i, layer);
    return total;
  }

  /** Uncompressed size of each layer, in manifest order. */
  async layerSizes(image: Pick<StoredImage, 'manifest' | 'config'>): Promise<number[]> {
    const out: number[] = [];
    for (const [i, layer] of image.manifest.layers.entries())
      out.push(await this.#layerSizeOrBlob(image, i, layer));
    return out;
  }

  async #layerSizeOrBlob(image: Pick<StoredImage, 'config'>, i: number, layer: Descriptor): Promise<number> {
    const diffId = image.config.rootfs.diff_ids[i];
    if (diffId === undefined) return layer.size;
    try {
      return await this.layerSize(diffId, layer);
    } catch {
      return layer.size;
    }
  }
}

/** Same addressing fields (what a name or record target holds). */
function sameDescriptor(a: Descriptor, b: Descriptor): boolean {
  return (
    a.digest === b.digest &&
    a.mediaType === b.mediaType &&
    a.size === b.size &&
    JSON.stringify(a.platform) === JSON.stringify(b.platform)
  );
}

/** A descriptor as a name or record target: the addressing fields only. */
function stripDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform !== undefined) out.platform = d.platform;
  return out;
}
