// OCI whiteouts (image-spec layer.md): in a layer, ".wh.<name>" deletes <name> of the layers
// below, and "<dir>/.wh..wh..opq" hides everything the layers below put in <dir>. Other
// ".wh..wh.*" names are reserved (AUFS metadata) and never extracted.

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';

export type WhiteoutName =
  | { kind: 'opaque' }
  | { kind: 'whiteout'; target: string }
  | { kind: 'meta' }
  | { kind: 'none' };

/** Classifies the last path component of an entry. A target of '', '.' or '..' is 'invalid'. */
export function classifyWhiteout(base: string): WhiteoutName | { kind: 'invalid' } {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (base === WHITEOUT_OPAQUE) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'meta' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..' || target.includes('/')) return { kind: 'invalid' };
  return { kind: 'whiteout', target };
}
