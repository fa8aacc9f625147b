// Push: local store → registry, as `docker push` does.
//
// 1. The name's target in the store: an image manifest, or an index. An index goes up whole
//    when every manifest it lists (and their blobs) is in the store; otherwise (an index pulled
//    for one platform) only the manifest for the store's platform goes.
// 2. Blobs (configs and layers, foreign layers excepted) in parallel, bounded: a HEAD finds
//    those the repository has ("Layer already exists"); a blob known to sit in another
//    repository of the same registry is mounted (POST …/uploads/?mount=&from=); others are
//    uploaded (transport/client: monolithic or chunked, the session repeated on failure).
// 3. Manifests last, with their exact stored bytes and media type: the children by digest, then
//    the top by tag. docker prints `<tag>: digest: sha256:… size: N`.
//
// Layers stored uncompressed (what a build writes by default) go up gzip-compressed, as docker
// pushes them: image/compressed-layer.ts writes each one once and remembers it, and the
// manifests that list them (and an index over those) are rewritten over the compressed
// descriptors, so the pushed manifest digest differs from the local one while the image ID
// (config digest) stays. A push by digest sends the stored bytes untouched: the digest names them.

import type { Digest } from '../digest/digest.js';
import { BuilderError } from '../errors.js';
import { CompressedLayers, type CompressOptions } from '../image/compressed-layer.js';
import { isForeignLayerMediaType, isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import { parseIndex, parseManifest } from '../oci/parse.js';
import { descriptorOf, serializeIndex, serializeManifest } from '../oci/serialize.js';
import type { Descriptor, Index, Manifest } from '../oci/types.js';
import { parseReference, type Reference } from '../reference/reference.js';
import type { Store } from '../store/store.js';
import { BlobSources } from './blob-sources.js';
import type { RegistryClient } from './client.js';
import { mapLimit, type TransferEvent } from './events.js';
import { explainRegistryFailure } from './explain.js';
import type { Registries } from './registries.js';

export interface PushOptions {
  onEvent?: (event: TransferEvent) => void;
  signal?: AbortSignal;
  /**
   * How layers stored uncompressed travel: compressed with these settings (default gzip, level
   * 6), or 'none' to push them as stored.
   */
  layerCompression?: CompressOptions | 'none';
}

export interface PushedBlob {
  digest: Digest;
  size: number;
  kind: 'config' | 'layer';
  status: 'exists' | 'mounted' | 'pushed';
  /** For a mount: the repository it came from. */
  from?: string;
}

export interface PushResult {
  reference: Reference;
  /** The tag pushed (undefined when pushed by digest). */
  tag: string | undefined;
  /** Digest, size and media type of the top manifest (or index) pushed. */
  digest: Digest;
  size: number;
  mediaType: string;
  blobs: PushedBlob[];
}

interface Document {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

interface PushPlan {
  /** Manifests to put by digest first (an index's children). */
  children: Document[];
  top: Document;
  manifests: Manifest[];
}

/**
 * The plan over the layers as they travel: each manifest whose layers `pushed` maps to another
 * descriptor is rewritten (and so is the index over rewritten children).
 */
function rewritePlan(plan: PushPlan, pushed: ReadonlyMap<Digest, Descriptor>): PushPlan {
  const rewrite = (doc: Document, manifest: Manifest): { doc: Document; manifest: Manifest } => {
    if (!manifest.layers.some((l) => pushed.has(l.digest))) return { doc, manifest };
    const next: Manifest = {
      ...manifest,
      layers: manifest.layers.map((l) => {
        const p = pushed.get(l.digest);
        return p === undefined ? l : { ...l, mediaType: p.mediaType, digest: p.digest, size: p.size };
      }),
    };
    const bytes = serializeManifest(next);
    return { doc: { descriptor: descriptorOf(bytes, doc.descriptor.mediaType), bytes }, manifest: next };
  };
  if (plan.children.length === 0) {
    const top = rewrite(plan.top, plan.manifests[0] as Manifest);
    return { children: [], top: top.doc, manifests: [top.manifest] };
  }
  const children = plan.children.map((c, i) => rewrite(c, plan.manifests[i] as Manifest));
  if (children.every((c, i) => c.doc === plan.children[i])) return plan;
  const index = parseIndex(plan.top.bytes);
  const byDigest = new Map(plan.children.map((c, i) => [c.descriptor.digest, children[i]?.doc.descriptor]));
  const nextIndex: Index = {
    ...index,
    manifests: index.manifests.map((m) => {
      const d = byDigest.get(m.digest);
      return d === undefined ? m : { ...m, digest: d.digest, size: d.size };
    }),
  };
  const bytes = serializeIndex(nextIndex);
  return {
    children: children.map((c) => c.doc),
    top: { descriptor: descriptorOf(bytes, plan.top.descriptor.mediaType), bytes },
    manifests: children.map((c) => c.manifest),
  };
}

async function planPush(store: Store, target: Descriptor): Promise<PushPlan> {
  const read = (d: Descriptor) => store.content.readBytes(d.digest);
  if (isIndexMediaType(target.mediaType)) {
    const bytes = await read(target);
    const index = parseIndex(bytes);
    const children: Document[] = [];
    const manifests: Manifest[] = [];
    let complete = index.manifests.length > 0;
    for (const child of index.manifests) {
      if (!isManifestMediaType(child.mediaType) || !(await store.content.has(child.digest))) {
        complete = false;
        break;
      }
      const childBytes = await read(child);
      const manifest = parseManifest(childBytes);
      const needed = [
        manifest.config,
        ...manifest.layers.filter((l) => !isForeignLayerMediaType(l.mediaType)),
      ];
      for (const b of needed) if (!(await store.content.has(b.digest))) complete = false;
      children.push({ descriptor: child, bytes: childBytes });
      manifests.push(manifest);
    }
    if (complete) return { children, top: { descriptor: target, bytes }, manifests };
    // Not every platform is here: push the one this store uses, as a plain manifest.
    const { manifestDescriptor, manifest } = await store.images.resolve(target);
    return {
      children: [],
      top: { descriptor: manifestDescriptor, bytes: await read(manifestDescriptor) },
      manifests: [manifest],
    };
  }
  if (!isManifestMediaType(target.mediaType))
    throw new BuilderError('EINVAL', `${target.digest} has media type ${target.mediaType}, not an image`);
  const bytes = await read(target);
  return { children: [], top: { descriptor: target, bytes }, manifests: [parseManifest(bytes)] };
}

/** Pushes the image named `input` (a name in the store) to the registry its name says. */
export async function pushImage(
  store: Store,
  input: string | Reference,
  registries: Registries,
  options: PushOptions = {},
): Promise<PushResult> {
  const ref = typeof input === 'string' ? parseReference(input) : input;
  const record = await store.meta.names.get(ref.toString());
  if (record === undefined) {
    throw new BuilderError(
      'ENOTFOUND',
      `An image does not exist locally with the tag: ${ref.digest === undefined ? ref.familiarName() : ref.familiarString()}`,
      {
        hint: `Name an image first: strata tag IMAGE ${ref.familiarString()} (strata images lists what is stored).`,
      },
    );
  }
  const client = registries.client(ref.domain);
  try {
    return await pushWith(store, ref, record.target, client, registries, options);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    const cred = await client.transport.credential().catch(() => undefined);
    throw explainRegistryFailure(err, { op: 'push', ref, hasCredential: cred !== undefined });
  }
}

async function pushWith(
  store: Store,
  ref: Reference,
  target: Descriptor,
  client: RegistryClient,
  registries: Registries,
  options: PushOptions,
): Promise<PushResult> {
  const { signal } = options;
  const repo = ref.path;
  const emit = options.onEvent ?? (() => {});
  const stored = await planPush(store, target);
  // By digest, the bytes are the name: nothing is rewritten.
  const compress = ref.digest === undefined ? (options.layerCompression ?? {}) : 'none';
  const compressed = new CompressedLayers(store);
  const sources = new BlobSources(store.meta);
  const repository = `${ref.domain}/${repo}`;

  const blobs = new Map<Digest, { descriptor: Descriptor; kind: 'config' | 'layer' }>();
  for (const m of stored.manifests) {
    if (!blobs.has(m.config.digest)) blobs.set(m.config.digest, { descriptor: m.config, kind: 'config' });
    for (const l of m.layers) {
      if (isForeignLayerMediaType(l.mediaType) && (l.urls?.length ?? 0) > 0) continue;
      if (!blobs.has(l.digest)) blobs.set(l.digest, { descriptor: l, kind: 'layer' });
    }
  }
  const list = [...blobs.values()];
  for (const b of list)
    emit({ kind: b.kind, digest: b.descriptor.digest, size: b.descriptor.size, status: 'preparing' });

  const { concurrency, monolithicMax, chunkSize } = registries.options;
  // Uncompressed layer digest → the compressed descriptor that went up instead.
  const travelled = new Map<Digest, Descriptor>();
  const pushed = await mapLimit(
    list,
    concurrency,
    async ({ descriptor: local, kind }): Promise<PushedBlob> => {
      // Events keep the local digest (the ID the user saw while building); sizes are what moves.
      const emitFor = (d: Descriptor, e: Omit<TransferEvent, 'kind' | 'digest' | 'size'>) =>
        emit({ kind, digest: local.digest, size: d.size, ...e });
      const exists = async (d: Descriptor): Promise<PushedBlob> => {
        emitFor(d, { status: 'exists' });
        await sources.add(d.digest, repository).catch(() => {});
        return { kind, digest: d.digest, size: d.size, status: 'exists' };
      };
      let d = local;
      if (compress !== 'none' && kind === 'layer' && CompressedLayers.needsCompression(local)) {
        const opts = { ...compress, ...(signal ? { signal } : {}) };
        // A layer compressed before and already in the registry is neither read nor compressed.
        const known = await compressed.known(local, opts);
        if (known !== undefined && (await client.hasBlob(repo, known.digest, signal, true))) {
          travelled.set(local.digest, known);
          return exists(known);
        }
        emitFor(local, { status: 'waiting' });
        d = await compressed.ensure(local, opts);
        travelled.set(local.digest, d);
      }
      const base = { kind, digest: d.digest, size: d.size };
      if (await client.hasBlob(repo, d.digest, signal, true)) return exists(d);
      emitFor(d, { status: 'waiting' });
      const mountFrom = await sources.mountCandidates(d.digest, ref.domain, repo);
      const blob = d;
      const result = await client.uploadBlob(
        repo,
        blob,
        () => store.content.open(blob.digest, signal ? { signal } : {}),
        {
          mountFrom,
          monolithicMax,
          chunkSize,
          onProgress: (sent) => emitFor(blob, { status: 'pushing', current: sent }),
          ...(signal ? { signal } : {}),
        },
      );
      await sources.add(d.digest, repository).catch(() => {});
      if (result.status === 'mounted') {
        emitFor(d, { status: 'mounted', from: result.from });
        return { ...base, status: 'mounted', from: result.from };
      }
      emitFor(d, { status: 'pushed' });
      return { ...base, status: 'pushed' };
    },
  );
  const plan = travelled.size === 0 ? stored : rewritePlan(stored, travelled);

  for (const child of plan.children)
    await client.putManifest(repo, child.descriptor.digest, child.bytes, child.descriptor.mediaType, signal);
  if (ref.digest !== undefined && ref.digest !== plan.top.descriptor.digest)
    throw new BuilderError(
      'EINVAL',
      `${ref.familiarString()} names digest ${ref.digest}, but the stored image is ${plan.top.descriptor.digest}`,
    );
  const digest = await client.putManifest(
    repo,
    ref.tag ?? plan.top.descriptor.digest,
    plan.top.bytes,
    plan.top.descriptor.mediaType,
    signal,
  );
  return {
    reference: ref,
    tag: ref.tag,
    digest,
    size: plan.top.bytes.byteLength,
    mediaType: plan.top.descriptor.mediaType,
    blobs: pushed,
  };
}

/** The tags of `repository` (any reference of it) that name images in the store, sorted. */
export async function localTags(store: Store, input: string | Reference): Promise<Reference[]> {
  const ref = typeof input === 'string' ? parseReference(input, { defaultTag: false }) : input;
  const out: Reference[] = [];
  for (const rec of await store.meta.names.list()) {
    let r: Reference;
    try {
      r = parseReference(rec.name);
    } catch {
      continue;
    }
    if (r.name === ref.name && r.tag !== undefined && r.digest === undefined) out.push(r);
  }
  return out.sort((a, b) => ((a.tag ?? '') < (b.tag ?? '') ? -1 : 1));
}
