// Where blobs are known to live in registries, so a push can mount a blob from another
// repository of the same registry instead of uploading it (POST …/blobs/uploads/?mount=&from=).
//
//   meta/v1/records/blob-sources/<escaped digest>.json → {"repositories": ["host/repo", …]}
//
// A pull records the repository each blob came from; a push, the repository it went to (or
// was found in). Most recent first, at most 8. These are hints: a stale entry costs one mount
// attempt that the registry answers with a normal upload session. Records are written without
// a lock (last writer wins): losing a hint to a race only costs a mount. GC does not read them.

import type { Digest } from '../digest/digest.js';
import { BuilderError } from '../errors.js';
import type { FsMetaStore } from '../store/meta/meta-store.js';
import type { FsRecordStore } from '../store/meta/record-store.js';

export interface BlobSourcesValue {
  /** Full repository names, `registry/path`. */
  repositories: string[];
}

const MAX_SOURCES = 8;

function validate(value: unknown): BlobSourcesValue {
  const v = value as { repositories?: unknown } | null;
  if (
    typeof v !== 'object' ||
    v === null ||
    !Array.isArray(v.repositories) ||
    v.repositories.some((r) => typeof r !== 'string')
  )
    throw new BuilderError('EINVAL', 'blob sources need a list of repository names');
  return { repositories: (v.repositories as string[]).slice(0, MAX_SOURCES) };
}

export class BlobSources {
  readonly #records: FsRecordStore<BlobSourcesValue>;

  constructor(meta: FsMetaStore) {
    this.#records = meta.records('blob-sources', validate);
  }

  /** Repositories (`registry/path`) known to hold the blob, most recent first. */
  async get(digest: Digest): Promise<string[]> {
    try {
      return (await this.#records.get(digest))?.value.repositories ?? [];
    } catch {
      return []; // a corrupt hint is no hint
    }
  }

  async add(digest: Digest, repository: string): Promise<void> {
    const current = await this.get(digest);
    if (current[0] === repository) return;
    const next = [repository, ...current.filter((r) => r !== repository)].slice(0, MAX_SOURCES);
    await this.#records.put(digest, { repositories: next });
  }

  /** Paths of other repositories in `registry` that hold the blob (mount candidates). */
  async mountCandidates(digest: Digest, registry: string, path: string): Promise<string[]> {
    const prefix = `${registry}/`;
    return (await this.get(digest))
      .filter((r) => r.startsWith(prefix))
      .map((r) => r.slice(prefix.length))
      .filter((p) => p !== path);
  }
}
