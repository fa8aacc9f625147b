// The distribution API of one registry, repository by repository: manifests (GET/HEAD/PUT),
// blobs (HEAD, GET into a consumer, upload sessions with cross-repository mount), tags.
// HTTP, authentication and retries are the transport's; this file knows the endpoints.

import type { Readable } from 'node:stream';
import { type Digest, digestAlgorithm, digestOf, isDigest } from '../digest/digest.js';
import { BuilderError, DigestMismatchError } from '../errors.js';
import { MediaTypes } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import { RegistryError } from './errors.js';
import type { HttpResponse } from './http.js';
import { redactUrl } from './redact.js';
import { type RegistryTransport, repositoryScope } from './transport.js';

/** What we accept for a manifest GET: indexes and image manifests, OCI and Docker. */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.dockerManifestList,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifest,
].join(', ');

/** Manifests (and indexes) larger than this are refused (containerd uses 4 MiB too). */
export const MANIFEST_MAX = 4 * 1024 * 1024;
/** Blobs up to this size go up in one PUT; larger ones in PATCH chunks. */
export const DEFAULT_MONOLITHIC_MAX = 16 * 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

export interface UploadOptions {
  /** Repositories of the same registry that are known to hold the blob, tried for a mount. */
  mountFrom?: string[];
  monolithicMax?: number;
  chunkSize?: number;
  /** Bytes sent so far in this try (starts again at 0 when the upload is repeated). */
  onProgress?: (sent: number) => void;
  signal?: AbortSignal;
}

export type UploadResult = { status: 'pushed' } | { status: 'mounted'; from: string };

function headerOf(res: { headers: HttpResponse['headers'] }, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Splits a stream into Buffers of exactly `size` bytes (the last may be shorter). */
async function* chunks(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const chunk of stream) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    while (buf.byteLength > 0) {
      const take = Math.min(size - have, buf.byteLength);
      parts.push(buf.subarray(0, take));
      have += take;
      buf = buf.subarray(take);
      if (have === size) {
        yield Buffer.concat(parts);
        parts = [];
        have = 0;
      }
    }
  }
  if (have > 0) yield Buffer.concat(parts);
}

export class RegistryClient {
  readonly transport: RegistryTransport;

  constructor(transport: RegistryTransport) {
    this.transport = transport;
  }

  get registry(): string {
    return this.transport.registry;
  }

  /** GETs a manifest or index by tag or digest; checks its digest. */
  async getManifest(repo: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const res = await this.transport.request(
      {
        method: 'GET',
        url: `/v2/${repo}/manifests/${reference}`,
        headers: { accept: MANIFEST_ACCEPT },
        scopes: [repositoryScope(repo, 'pull')],
        expect: [200],
        ...(signal ? { signal } : {}),
      },
      MANIFEST_MAX,
    );
    const mediaType = (headerOf(res, 'content-type') ?? '').split(';')[0]?.trim() ?? '';
    const byDigest = isDigest(reference) ? reference : undefined;
    const algorithm = byDigest === undefined ? 'sha256' : digestAlgorithm(byDigest);
    const digest = digestOf(res.body, algorithm);
    if (byDigest !== undefined && digest !== byDigest)
      throw new DigestMismatchError(byDigest, digest, `manifest ${repo}@${byDigest} from ${this.registry}`);
    const claimed = headerOf(res, 'docker-content-digest');
    if (byDigest === undefined && claimed !== undefined && isDigest(claimed)) {
      const actual = digestOf(res.body, digestAlgorithm(claimed));
      if (actual !== claimed)
        throw new DigestMismatchError(claimed, actual, `manifest ${repo}:${reference} from ${this.registry}`);
    }
    return { bytes: res.body, mediaType, digest };
  }

  /** HEAD of a manifest: its digest and media type, or undefined when the registry has none. */
  async headManifest(
    repo: string,
    reference: string,
    signal?: AbortSignal,
  ): Promise<{ digest: Digest | undefined; mediaType: string; size: number } | undefined> {
    try {
      const res = await this.transport.request({
        method: 'HEAD',
        url: `/v2/${repo}/manifests/${reference}`,
        headers: { accept: MANIFEST_ACCEPT },
        scopes: [repositoryScope(repo, 'pull')],
        expect: [200],
        ...(signal ? { signal } : {}),
      });
      const d = headerOf(res, 'docker-content-digest');
      return {
        digest: d !== undefined && isDigest(d) ? d : undefined,
        mediaType: (headerOf(res, 'content-type') ?? '').split(';')[0]?.trim() ?? '',
        size: Number(headerOf(res, 'content-length') ?? '0'),
      };
    } catch (err) {
      if (err instanceof RegistryError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** PUTs a manifest with its exact bytes and media type; resolves to the digest the registry reports. */
  async putManifest(
    repo: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    signal?: AbortSignal,
  ): Promise<Digest> {
    const res = await this.transport.request({
      method: 'PUT',
      url: `/v2/${repo}/manifests/${reference}`,
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: [repositoryScope(repo, 'pull,push')],
      expect: [201, 200, 202],
      ...(signal ? { signal } : {}),
    });
    const expected = digestOf(bytes);
    const reported = headerOf(res, 'docker-content-digest');
    if (reported !== undefined && isDigest(reported) && reported !== expected)
      throw new DigestMismatchError(expected, reported, `manifest pushed to ${this.registry}/${repo}`);
    return expected;
  }

  /** True when the repository has the blob (HEAD 200). */
  async hasBlob(repo: string, digest: Digest, signal?: AbortSignal, pushScope = false): Promise<boolean> {
    try {
      await this.transport.request({
        method: 'HEAD',
        url: `/v2/${repo}/blobs/${digest}`,
        scopes: [repositoryScope(repo, pushScope ? 'pull,push' : 'pull')],
        expect: [200],
        ...(signal ? { signal } : {}),
      });
      return true;
    } catch (err) {
      if (err instanceof RegistryError && err.status === 404) return false;
      throw err;
    }
  }

  /**
   * GETs a blob and hands its body to `consume` (which should verify it, e.g. by writing it to
   * the content store with the expected digest). A connection broken mid-body repeats the GET.
   */
  fetchBlob<T>(
    repo: string,
    descriptor: Descriptor,
    consume: (body: Readable) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    return this.transport.send(
      {
        method: 'GET',
        url: `/v2/${repo}/blobs/${descriptor.digest}`,
        scopes: [repositoryScope(repo, 'pull')],
        expect: [200],
        ...(signal ? { signal } : {}),
      },
      (res) => consume(res.body),
    );
  }

  /**
   * Uploads a blob: a cross-repository mount when a source repository is known, else a new
   * upload session, monolithic (one PUT) up to `monolithicMax`, else PATCH chunks then PUT.
   * A failure anywhere repeats the whole session (a half-sent chunk leaves the registry's
   * session in an unknown state), under the transport's retry policy.
   */
  uploadBlob(
    repo: string,
    descriptor: Descriptor,
    open: () => Promise<Readable>,
    options: UploadOptions = {},
  ): Promise<UploadResult> {
    const { signal } = options;
    const monolithicMax = options.monolithicMax ?? DEFAULT_MONOLITHIC_MAX;
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!(chunkSize > 0)) throw new BuilderError('EINVAL', 'chunk size must be positive');
    const uploads = `/v2/${repo}/blobs/uploads/`;
    return this.transport.retrying(
      `pushing ${descriptor.digest} to ${this.registry}/${repo}`,
      async () => {
        let location: URL | undefined;
        for (const from of (options.mountFrom ?? []).filter((r) => r !== repo).slice(0, 3)) {
          const res = await this.transport.request({
            method: 'POST',
            url: uploads,
            query: { mount: descriptor.digest, from },
            scopes: [repositoryScope(repo, 'pull,push'), repositoryScope(from, 'pull')],
            expect: [201, 202],
            retry: false,
            ...(signal ? { signal } : {}),
          });
          if (res.status === 201) return { status: 'mounted', from } as const;
          location = this.#location(res);
          break; // the registry opened an upload session instead: use it
        }
        if (location === undefined) {
          const res = await this.transport.request({
            method: 'POST',
            url: uploads,
            scopes: [repositoryScope(repo, 'pull,push')],
            expect: [202],
            retry: false,
            ...(signal ? { signal } : {}),
          });
          location = this.#location(res);
        }
        let sent = 0;
        options.onProgress?.(0);
        const progress = (n: number) => {
          sent += n;
          options.onProgress?.(sent);
        };
        const stream = await open();
        try {
          if (descriptor.size <= monolithicMax) {
            let body: Buffer = Buffer.alloc(0);
            for await (const c of chunks(stream, Math.max(1, descriptor.size + 1))) body = c;
            if (body.byteLength !== descriptor.size)
              throw new BuilderError(
                'EDIGEST',
                `blob ${descriptor.digest} is ${body.byteLength} bytes in the store, ${descriptor.size} in its descriptor`,
              );
            const res = await this.#put(repo, location, descriptor.digest, body, progress, signal);
            this.#checkCommitted(res, descriptor.digest);
          } else {
            let offset = 0;
            for await (const chunk of chunks(stream, chunkSize)) {
              const res = await this.transport.request({
                method: 'PATCH',
                url: location.toString(),
                headers: {
                  'content-type': 'application/octet-stream',
                  'content-range': `${offset}-${offset + chunk.byteLength - 1}`,
                },
                body: chunk,
                scopes: [repositoryScope(repo, 'pull,push')],
                expect: [202, 204],
                retry: false,
                onBodyProgress: progress,
                ...(signal ? { signal } : {}),
              });
              offset += chunk.byteLength;
              location = this.#location(res, location);
            }
            if (offset !== descriptor.size)
              throw new BuilderError(
                'EDIGEST',
                `blob ${descriptor.digest} is ${offset} bytes in the store, ${descriptor.size} in its descriptor`,
              );
            const res = await this.#put(repo, location, descriptor.digest, undefined, progress, signal);
            this.#checkCommitted(res, descriptor.digest);
          }
        } finally {
          stream.destroy();
        }
        return { status: 'pushed' } as const;
      },
      signal,
    );
  }

  #put(
    repo: string,
    location: URL,
    digest: Digest,
    body: Buffer | undefined,
    progress: (n: number) => void,
    signal: AbortSignal | undefined,
  ) {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    return this.transport.request({
      method: 'PUT',
      url: url.toString(),
      headers: { 'content-type': 'application/octet-stream' },
      ...(body === undefined ? {} : { body }),
      scopes: [repositoryScope(repo, 'pull,push')],
      expect: [201, 204],
      retry: false,
      onBodyProgress: progress,
      ...(signal ? { signal } : {}),
    });
  }

  #location(res: { headers: HttpResponse['headers']; url: URL }, fallback?: URL): URL {
    const loc = headerOf(res, 'location');
    if (loc === undefined || loc === '') {
      if (fallback !== undefined) return fallback;
      throw new BuilderError(
        'EINVAL',
        `${this.registry} opened an upload without a Location (${redactUrl(res.url)})`,
      );
    }
    return new URL(loc, res.url);
  }

  #checkCommitted(res: { headers: HttpResponse['headers'] }, digest: Digest): void {
    const reported = headerOf(res, 'docker-content-digest');
    if (reported !== undefined && isDigest(reported) && reported !== digest)
      throw new DigestMismatchError(digest, reported, `blob committed on ${this.registry}`);
  }

  /** Every tag of a repository (following `Link: <…>; rel="next"`, at most 100 pages). */
  async listTags(repo: string, signal?: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    let next: string | undefined = `/v2/${repo}/tags/list`;
    for (let page = 0; next !== undefined && page < 100; page++) {
      const res = await this.transport.request({
        method: 'GET',
        url: next,
        scopes: [repositoryScope(repo, 'pull')],
        expect: [200],
        ...(signal ? { signal } : {}),
      });
      const parsed = JSON.parse(res.body.toString('utf8')) as { tags?: unknown };
      if (Array.isArray(parsed.tags)) for (const t of parsed.tags) if (typeof t === 'string') out.push(t);
      const link = headerOf(res, 'link');
      const m = link === undefined ? null : /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
      next = m?.[1] === undefined ? undefined : new URL(m[1], res.url).toString();
    }
    return out;
  }
}
