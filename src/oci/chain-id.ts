// ChainIDs name a stack of layers (image-spec config.md): the first is the first diffID, then
// ChainID(n) = sha256(ChainID(n-1) + " " + diffID(n)). Snapshots of committed layers are named
// by ChainID, so equal stacks share one snapshot whatever image they came from.

import { type Digest, sha256Of } from '../digest/digest.js';
import { BuilderError } from '../errors.js';

/** ChainIDs of every prefix of `diffIds`: result[i] names layers 0..i. */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  let previous: Digest | undefined;
  for (const diffId of diffIds) {
    previous = previous === undefined ? diffId : sha256Of(`${previous} ${diffId}`);
    out.push(previous);
  }
  return out;
}

/** The ChainID of the whole stack. An empty stack has none (EINVAL). */
export function chainId(diffIds: readonly Digest[]): Digest {
  const all = chainIds(diffIds);
  const last = all[all.length - 1];
  if (last === undefined) throw new BuilderError('EINVAL', 'a ChainID needs at least one diffID');
  return last;
}
