// Progress of blob transfers, as data: the CLI draws bars or prints lines from these.

import type { Digest } from '../digest/digest.js';

export type TransferStatus =
  | 'waiting'
  | 'downloading'
  | 'complete'
  | 'exists'
  | 'preparing'
  | 'pushing'
  | 'pushed'
  | 'mounted'
  | 'retrying';

export interface TransferEvent {
  kind: 'layer' | 'config';
  digest: Digest;
  size: number;
  status: TransferStatus;
  /** Bytes moved so far, while downloading or pushing. */
  current?: number;
  /** The repository a mounted blob came from. */
  from?: string;
}

/** Docker's short layer ID: 12 hex digits of the digest. */
export function shortDigest(digest: Digest | string): string {
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, 12);
}

/** Runs `fn` over `items` with at most `limit` at a time; the first failure rejects (others finish). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}
