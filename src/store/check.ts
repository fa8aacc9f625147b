// `strata system check`: reads every blob back and compares it with its digest, and checks that
// every name and every image record leads to a complete image (manifest, config, each layer
// present with the size its descriptor says, as many diff_ids as layers). Reads only.

import { opendir } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../digest/digest.js';
import { HashTap } from '../digest/hash-tap.js';
import { isBuilderError } from '../errors.js';
import {
  isForeignLayerMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
} from '../oci/media-types.js';
import { parseConfig, parseIndex, parseManifest } from '../oci/parse.js';
import type { Descriptor } from '../oci/types.js';
import type { GcStore } from './gc.js';

export interface CheckProblem {
  /** What is wrong: a blob, a name, an image record. */
  kind: 'blob' | 'name' | 'image';
  /** The digest, name or image ID concerned. */
  subject: string;
  message: string;
}

export interface CheckResult {
  blobs: number;
  bytes: number;
  names: number;
  images: number;
  /** Temp files of interrupted writes (not problems: prune removes them). */
  abandonedIngests: number;
  problems: CheckProblem[];
}

export interface CheckOptions {
  signal?: AbortSignal;
  /** Called after each blob is verified (progress). */
  onBlob?: (digest: Digest, size: number) => void;
}

async function countIngests(store: GcStore): Promise<number> {
  const dir = (store.content as { ingestDir?: unknown }).ingestDir;
  if (typeof dir !== 'string') return 0;
  try {
    let n = 0;
    for await (const _ of await opendir(dir)) n++;
    return n;
  } catch {
    return 0;
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Problems of the image a name or record points at (empty when it is complete). */
async function imageProblems(store: GcStore, target: Descriptor, depth = 0): Promise<string[]> {
  const { content } = store;
  const problems: string[] = [];
  const blob = async (d: Descriptor, what: string): Promise<boolean> => {
    try {
      const info = await content.stat(d.digest);
      if (info.size !== d.size) {
        problems.push(`${what} ${d.digest} is ${info.size} bytes, its descriptor says ${d.size}`);
        return false;
      }
      return true;
    } catch (err) {
      problems.push(
        isBuilderError(err) && err.code === 'ENOTFOUND'
          ? `${what} ${d.digest} is missing`
          : `${what}: ${message(err)}`,
      );
      return false;
    }
  };
  try {
    if (isIndexMediaType(target.mediaType)) {
      if (!(await blob(target, 'index'))) return problems;
      const index = parseIndex(await content.readBytes(target.digest));
      let present = 0;
      for (const child of index.manifests) {
        if (!(await content.has(child.digest))) continue; // other platforms need not be here
        if (child.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
        present++;
        if (depth < 4) problems.push(...(await imageProblems(store, child, depth + 1)));
      }
      if (present === 0) problems.push(`index ${target.digest} has none of its manifests in the store`);
      return problems;
    }
    if (!isManifestMediaType(target.mediaType))
      return [`${target.digest} has media type ${target.mediaType}`];
    if (!(await blob(target, 'manifest'))) return problems;
    const manifest = parseManifest(await content.readBytes(target.digest));
    if (!(await blob(manifest.config, 'config'))) return problems;
    const config = parseConfig(await content.readBytes(manifest.config.digest));
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length)
      problems.push(
        `${manifest.layers.length} layers but ${diffIds.length} diff_ids in config ${manifest.config.digest}`,
      );
    for (const [i, layer] of manifest.layers.entries()) {
      if (!isLayerMediaType(layer.mediaType)) problems.push(`layer ${i} has media type ${layer.mediaType}`);
      if (isForeignLayerMediaType(layer.mediaType) && (layer.urls?.length ?? 0) > 0) continue;
      await blob(layer, `layer ${i}`);
    }
  } catch (err) {
    problems.push(message(err));
  }
  return problems;
}

export async function checkStore(store: GcStore, options: CheckOptions = {}): Promise<CheckResult> {
  const result: CheckResult = { blobs: 0, bytes: 0, names: 0, images: 0, abandonedIngests: 0, problems: [] };
  const pipelineOptions = options.signal === undefined ? {} : { signal: options.signal };
  for await (const info of store.content.walk()) {
    options.signal?.throwIfAborted();
    result.blobs++;
    result.bytes += info.size;
    try {
      const tap = new HashTap({ algorithm: info.digest.slice(0, info.digest.indexOf(':')) as 'sha256' });
      const stream = await store.content.open(info.digest, pipelineOptions);
      await pipeline(
        stream,
        tap,
        async (chunks: AsyncIterable<unknown>) => {
          for await (const _ of chunks) {
            // hash only
          }
        },
        pipelineOptions,
      );
      if (tap.digest() !== info.digest)
        result.problems.push({
          kind: 'blob',
          subject: info.digest,
          message: `content hashes to ${tap.digest()}`,
        });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      result.problems.push({ kind: 'blob', subject: info.digest, message: `unreadable: ${message(err)}` });
    }
    options.onBlob?.(info.digest, info.size);
  }
  for (const name of await store.meta.names.list()) {
    result.names++;
    for (const p of await imageProblems(store, name.target))
      result.problems.push({ kind: 'name', subject: name.name, message: p });
  }
  for (const rec of await store.images.records.list()) {
    result.images++;
    const problems = await imageProblems(store, rec.value.target);
    if (problems.length === 0) {
      // The record's key must be the config digest of its target.
      try {
        const { id } = await store.images.resolve(rec.value.target);
        if (id !== rec.key) problems.push(`record for ${rec.key} points at an image with ID ${id}`);
      } catch (err) {
        problems.push(message(err));
      }
    }
    for (const p of problems) result.problems.push({ kind: 'image', subject: rec.key, message: p });
  }
  result.abandonedIngests = await countIngests(store);
  return result;
}
