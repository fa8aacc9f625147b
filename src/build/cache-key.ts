// Cache keys: the digest of a versioned record of everything that decides a step's result.
// The record itself (the pre-image) is stored with the entry, so a miss can be explained
// later by diffing it against the nearest hit.

import { sha256Hex } from '../digest/sha256.js';
import { canonicalJson } from '../oci/go-json.js';
import type { LayerRef } from '../rootfs/rootfs-manager.js';

export type { LayerRef };

/** Bump when the meaning of a record changes: old entries then simply stop matching. */
export const CACHE_KEY_VERSION = 1;

export interface KeyPreimage {
  v: number;
  /** The previous step's key, or the base: `scratch`, an image's manifest digest, a stage's key. */
  parent: string;
  platform: string;
  /** The expanded instruction, without fields that do not change the result. */
  op: Record<string, unknown>;
  /** Content checksums of the inputs (context files, other stages' keys). */
  inputs: string[];
}

export interface StepKey {
  key: string;
  preimage: KeyPreimage;
}

export function stepKey(
  parent: string,
  platform: string,
  op: Record<string, unknown>,
  inputs: string[] = [],
): StepKey {
  const preimage: KeyPreimage = { v: CACHE_KEY_VERSION, parent, platform, op, inputs };
  const key = `sha256:${sha256Hex(canonicalJson(preimage))}`;
  return { key, preimage };
}

/** What a cache entry remembers: the layer a step produced (none when it changed nothing). */
export interface CacheRecord {
  preimage: KeyPreimage;
  layer?: LayerRef;
  /** When the step first ran (RFC 3339): history keeps it, so a rebuild from cache gives the same image. */
  created?: string;
}

export function baseKeyForScratch(platform: string): string {
  return `scratch:${platform}`;
}
