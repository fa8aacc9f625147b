// Pull: registry → local store, as `docker pull` does.
//
// 1. GET the manifest by tag or digest (Accept: OCI/Docker index and manifest), check its digest.
// 2. An index (or a Docker manifest list) is resolved to the wanted platform (the store's, i.e.
//    the host's, unless asked otherwise); attestations are skipped.
// 3. The config and the layers download in parallel (bounded), each streamed into the content
//    store with its expected digest and size: the store hashes while it ingests and commits only
//    verified content, so a broken or lying download leaves nothing visible. Blobs already in the
//    store are skipped. A connection broken mid-blob repeats that blob's GET (transport retry).
// 4. Then, in the store's crash-safe order: manifest bytes (exactly as served), the index bytes,
//    the image record (putManifest), and last the name: `name:tag` or `name@digest` → the
//    digest pulled (so RepoDigests shows it).
// 5. Where each blob came from is remembered (blob-sources.ts) for cross-repository mounts.

import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.js';
import { BuilderError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType, MediaTypes } from '../oci/media-types.js';
import { parseImageDocument, parseManifest } from '../oci/parse.js';
import { formatPlatform, platformMatches } from '../oci/platform.js';
import type { Descriptor, Index, Manifest, Platform } from '../oci/types.js';
import { parseReference, type Reference } from '../reference/reference.js';
import { IMAGE_ID_LABEL, type StoredImage } from '../store/image-store.js';
import type { Store } from '../store/store.js';
import { BlobSources } from './blob-sources.js';
import type { FetchedManifest, RegistryClient } from './client.js';
import { mapLimit, type TransferEvent } from './events.js';
import { explainRegistryFailure } from './explain.js';
import type { Registries } from './registries.js';

export interface PullOptions {
  /** The platform to pick from an index; default: the store's (this machine's). */
  platform?: Platform;
  onEvent?: (event: TransferEvent) => void;
  signal?: AbortSignal;
}

export interface PulledBlob {
  digest: Digest;
  size: number;
  status: 'exists' | 'downloaded';
}

export interface PullResult {
  /** The full reference pulled: `docker.io/library/alpine:3.20` or `…@sha256:…`. */
  reference: Reference;
  /** What the name now points at: the index or the manifest pulled. */
  target: Descriptor;
  /** The platform's image manifest. */
  manifestDescriptor: Descriptor;
  image: StoredImage;
  /** `up-to-date` when the name already pointed at this digest and nothing was downloaded. */
  status: 'downloaded' | 'up-to-date';
  layers: PulledBlob[];
}

/** `linux/amd64`, `linux/arm64/v8`, `amd64` (linux assumed) → Platform. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.length === 1 && parts[0] !== '') return { os: 'linux', architecture: parts[0] as string };
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === ''))
    throw new BuilderError('EINVAL', `invalid platform ${JSON.stringify(text)}`, {
      hint: 'Write it as os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8.',
    });
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

function isAttestation(d: Descriptor): boolean {
  return (
    d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || d.platform?.os === 'unknown'
  );
}

/** The index entry for `platform` (ENOTFOUND listing what there is otherwise). */
export function chooseFromIndex(index: Index, platform: Platform): Descriptor {
  const candidates = index.manifests.filter(
    (d) => !isAttestation(d) && (isManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType)),
  );
  const chosen = candidates.find((d) => platformMatches(d.platform, platform));
  if (chosen === undefined) {
    const have = candidates.map((d) => (d.platform ? formatPlatform(d.platform) : '?')).join(', ');
    throw new BuilderError(
      'ENOTFOUND',
      `no matching manifest for ${formatPlatform(platform)} in the manifest list entries`,
      { hint: have === '' ? 'The index lists no image.' : `It has: ${have}. Choose one with --platform.` },
    );
  }
  return chosen;
}

function stripDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform !== undefined) out.platform = d.platform;
  return out;
}

async function* counted(body: Readable, onBytes: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    const buf = chunk as Uint8Array;
    onBytes(buf.byteLength);
    yield buf;
  }
}

/** Pulls `input` into `store` through `registries`. */
export async function pullImage(
  store: Store,
  input: string | Reference,
  registries: Registries,
  options: PullOptions = {},
): Promise<PullResult> {
  const ref = typeof input === 'string' ? parseReference(input) : input;
  const client = registries.client(ref.domain);
  try {
    return await pullWith(store, ref, client, registries.options.concurrency, options);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    const cred = await client.transport.credential().catch(() => undefined);
    throw explainRegistryFailure(err, { op: 'pull', ref, hasCredential: cred !== undefined });
  }
}

async function pullWith(
  store: Store,
  ref: Reference,
  client: RegistryClient,
  concurrency: number,
  options: PullOptions,
): Promise<PullResult> {
  const { signal } = options;
  const repo = ref.path;
  const platform = options.platform ?? store.images.platform;
  const emit = options.onEvent ?? (() => {});

  const top = await client.getManifest(repo, ref.digest ?? ref.tag ?? 'latest', signal);
  const topDoc = parseImageDocument(top.bytes, top.mediaType);
  const fetched: { descriptor: Descriptor; doc: FetchedManifest }[] = [];
  let current = top;
  let doc = topDoc;
  let descriptor: Descriptor = {
    mediaType:
      (doc.kind === 'index' ? doc.index.mediaType : doc.manifest.mediaType) ??
      (top.mediaType !== ''
        ? top.mediaType
        : doc.kind === 'index'
          ? MediaTypes.ociIndex
          : MediaTypes.ociManifest),
    digest: top.digest,
    size: top.bytes.byteLength,
  };
  const target = descriptor;
  fetched.push({ descriptor, doc: top });
  for (let depth = 0; doc.kind === 'index'; depth++) {
    if (depth > 3) throw new BuilderError('EINVAL', `image index ${descriptor.digest} nests too deep`);
    const chosen = chooseFromIndex(doc.index, platform);
    current = await client.getManifest(repo, chosen.digest, signal);
    if (current.bytes.byteLength !== chosen.size)
      throw new BuilderError(
        'EDIGEST',
        `manifest ${chosen.digest} is ${current.bytes.byteLength} bytes, its index says ${chosen.size}`,
      );
    doc = parseImageDocument(current.bytes, chosen.mediaType);
    descriptor = stripDescriptor(chosen);
    fetched.push({ descriptor, doc: current });
  }
  const manifest: Manifest = parseManifest(current.bytes);
  const manifestDescriptor: Descriptor = {
    ...descriptor,
    mediaType: manifest.mediaType ?? descriptor.mediaType,
  };
  if (!isManifestMediaType(manifestDescriptor.mediaType))
    throw new BuilderError(
      'EINVAL',
      `${ref.familiarString()} is a ${manifestDescriptor.mediaType}, not an image`,
    );

  const download = async (d: Descriptor, kind: TransferEvent['kind']): Promise<PulledBlob> => {
    if (await store.content.has(d.digest)) {
      emit({ kind, digest: d.digest, size: d.size, status: 'exists' });
      return { digest: d.digest, size: d.size, status: 'exists' };
    }
    emit({ kind, digest: d.digest, size: d.size, status: 'waiting' });
    await client.fetchBlob(
      repo,
      d,
      async (body) => {
        let got = 0;
        emit({ kind, digest: d.digest, size: d.size, status: 'downloading', current: 0 });
        return store.content.write(
          counted(body, (n) => {
            got += n;
            emit({ kind, digest: d.digest, size: d.size, status: 'downloading', current: got });
          }),
          { expectedDigest: d.digest, expectedSize: d.size, ...(signal ? { signal } : {}) },
        );
      },
      signal,
    );
    emit({ kind, digest: d.digest, size: d.size, status: 'complete' });
    return { digest: d.digest, size: d.size, status: 'downloaded' };
  };

  const blobs = manifest.layers.filter((l) => !(l.urls !== undefined && l.urls.length > 0));
  const [configResult, ...layerResults] = await mapLimit([manifest.config, ...blobs], concurrency, (d, i) =>
    download(d, i === 0 ? 'config' : 'layer'),
  );

  // Documents last, children before the index that lists them.
  for (const f of [...fetched].reverse()) {
    await store.content.writeBytes(f.doc.bytes, {
      expectedDigest: f.descriptor.digest,
      expectedSize: f.descriptor.size,
      ...(signal ? { signal } : {}),
    });
  }
  const full = ref.toString();
  const previous = await store.meta.names.get(full);
  const image = await store.images.putManifest(stripDescriptor(manifestDescriptor));
  await store.meta.names.set(full, stripDescriptor(target), { labels: { [IMAGE_ID_LABEL]: image.id } });
  const named = await store.images.get(full);

  const sources = new BlobSources(store.meta);
  const repository = `${ref.domain}/${repo}`;
  for (const d of [manifest.config, ...blobs]) await sources.add(d.digest, repository).catch(() => {});

  const downloaded = [configResult, ...layerResults].some((r) => r?.status === 'downloaded');
  return {
    reference: ref,
    target,
    manifestDescriptor: stripDescriptor(manifestDescriptor),
    image: named,
    status: previous?.target.digest === target.digest && !downloaded ? 'up-to-date' : 'downloaded',
    layers: layerResults,
  };
}

/** Every tag of the repository `input` names (for pull --all-tags). */
export async function listRemoteTags(
  input: string | Reference,
  registries: Registries,
  signal?: AbortSignal,
): Promise<string[]> {
  const ref = typeof input === 'string' ? parseReference(input, { defaultTag: false }) : input;
  const client = registries.client(ref.domain);
  try {
    return await client.listTags(ref.path, signal);
  } catch (err) {
    const cred = await client.transport.credential().catch(() => undefined);
    throw explainRegistryFailure(err, { op: 'pull', ref, hasCredential: cred !== undefined });
  }
}
