// `strata images` / `strata image ls`: docker's table (REPOSITORY TAG IMAGE ID CREATED SIZE),
// one row per repository:tag, `<none>` for untagged, plus -q, --digests, --no-trunc, -a,
// --filter (dangling, reference, label, before, since) and --format (table/json/templates).

import { BuilderError } from '../../errors.js';
import { parseReference } from '../../reference/reference.js';
import { type StoredImage, shortId } from '../../store/image-store.js';
import { optBool, optList, optString } from '../args.js';
import type { CommandContext } from '../command.js';
import { renderFormat } from '../render/format.js';
import { STRUCT_NAME } from '../render/go-template.js';
import { createdSince, goTimeString, humanSizeWithPrecision } from '../render/units.js';
import { openCliStore } from '../store-root.js';

const DEFAULT_TABLE =
  'table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\\t{{.Size}}';
const DEFAULT_TABLE_DIGEST =
  'table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\\t{{.Size}}';

const HEADERS = {
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
  Containers: 'CONTAINERS',
  VirtualSize: 'SIZE',
  SharedSize: 'SHARED SIZE',
  UniqueSize: 'UNIQUE SIZE',
};

export interface ImageRow {
  Containers: string;
  CreatedAt: string;
  CreatedSince: string;
  Digest: string;
  ID: string;
  Repository: string;
  SharedSize: string;
  Size: string;
  Tag: string;
  UniqueSize: string;
  VirtualSize: string;
}

interface Filters {
  dangling?: boolean;
  references: string[];
  labels: Array<{ key: string; value?: string }>;
  before?: StoredImage;
  since?: StoredImage;
}

/** path.Match-style glob (`*`, `?`, `[...]`) where `*` does not cross `/`. */
function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${pattern
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** docker's reference filter (FamiliarMatch): the pattern against `name:tag`, then against `name`. */
function nameMatches(name: string, pattern: string): boolean {
  const re = globToRegExp(pattern);
  const ref = parseReference(name);
  return re.test(ref.familiarString()) || re.test(ref.familiarName());
}

async function parseFilters(
  ctx: CommandContext,
  get: (ref: string) => Promise<StoredImage>,
): Promise<Filters> {
  const filters: Filters = { references: [], labels: [] };
  for (const f of optList(ctx.args, 'filter')) {
    const eq = f.indexOf('=');
    if (eq < 0) throw new BuilderError('EINVAL', `bad format of filter (expected name=value): ${f}`);
    const key = f.slice(0, eq).toLowerCase();
    const value = f.slice(eq + 1);
    switch (key) {
      case 'dangling':
        if (!['true', 'false', '1', '0'].includes(value.toLowerCase()))
          throw new BuilderError('EINVAL', `invalid filter 'dangling=${value}'`);
        filters.dangling = value.toLowerCase() === 'true' || value === '1';
        break;
      case 'reference':
        filters.references.push(value);
        break;
      case 'label': {
        const e = value.indexOf('=');
        filters.labels.push(e < 0 ? { key: value } : { key: value.slice(0, e), value: value.slice(e + 1) });
        break;
      }
      case 'before':
        filters.before = await get(value);
        break;
      case 'since':
        filters.since = await get(value);
        break;
      default:
        throw new BuilderError('EINVAL', `invalid filter '${key}'`);
    }
  }
  return filters;
}

function created(image: StoredImage): number {
  const t = Date.parse(image.config.created ?? '');
  return Number.isNaN(t) ? 0 : t;
}

function keep(image: StoredImage, filters: Filters): boolean {
  const dangling = image.names.length === 0 && image.repoDigests.length === 0;
  if (filters.dangling !== undefined && filters.dangling !== dangling) return false;
  const labels = image.config.config?.Labels ?? {};
  for (const { key, value } of filters.labels) {
    if (!Object.hasOwn(labels, key)) return false;
    if (value !== undefined && labels[key] !== value) return false;
  }
  if (filters.before !== undefined && !(created(image) < created(filters.before))) return false;
  if (filters.since !== undefined && !(created(image) > created(filters.since))) return false;
  return true;
}

/** Rows as docker's imageFormatTaggedAndDigest makes them. */
export function imageRows(
  image: StoredImage,
  size: number,
  options: { trunc: boolean; digests: boolean; needDigest: boolean; now?: number },
): ImageRow[] {
  const base = {
    Containers: 'N/A',
    CreatedAt: goTimeString(image.config.created),
    CreatedSince: createdSince(image.config.created, options.now),
    ID: options.trunc ? shortId(image.id) : image.id,
    SharedSize: 'N/A',
    Size: humanSizeWithPrecision(size, 3),
    UniqueSize: 'N/A',
    VirtualSize: humanSizeWithPrecision(size, 4),
  };
  const row = (Repository: string, Tag: string, Digest: string): ImageRow => {
    const r = { ...base, Digest, Repository, Tag } as ImageRow;
    Object.defineProperty(r, STRUCT_NAME, { value: '*formatter.imageContext', enumerable: false });
    return r;
  };
  if (image.names.length === 0 && image.repoDigests.length === 0) return [row('<none>', '<none>', '<none>')];
  const tags = new Map<string, string[]>();
  const digests = new Map<string, string[]>();
  for (const name of image.names) {
    const ref = parseReference(name);
    if (ref.tag !== undefined)
      tags.set(ref.familiarName(), [...(tags.get(ref.familiarName()) ?? []), ref.tag]);
  }
  for (const name of image.repoDigests) {
    const ref = parseReference(name);
    if (ref.digest !== undefined)
      digests.set(ref.familiarName(), [...(digests.get(ref.familiarName()) ?? []), ref.digest]);
  }
  const rows: ImageRow[] = [];
  for (const repo of [...tags.keys()].sort()) {
    const repoDigests = options.needDigest ? (digests.get(repo) ?? []) : [];
    digests.delete(repo);
    for (const tag of (tags.get(repo) ?? []).sort()) {
      if (repoDigests.length === 0) rows.push(row(repo, tag, '<none>'));
      else for (const d of repoDigests) rows.push(row(repo, tag, d));
    }
  }
  for (const repo of [...digests.keys()].sort()) {
    if (options.digests) for (const d of digests.get(repo) ?? []) rows.push(row(repo, '<none>', d));
    else rows.push(row(repo, '<none>', ''));
  }
  return rows;
}

export async function images(ctx: CommandContext): Promise<number> {
  const store = await openCliStore(ctx.env);
  const quiet = optBool(ctx.args, 'quiet');
  const digests = optBool(ctx.args, 'digests');
  const trunc = !optBool(ctx.args, 'no-trunc');
  let format = optString(ctx.args, 'format') ?? '';
  if (quiet) format = '{{.ID}}';
  else if (format === '' || format === 'table') format = digests ? DEFAULT_TABLE_DIGEST : DEFAULT_TABLE;
  else if (format.startsWith('table') && digests && !format.includes('{{.Digest}}'))
    format += '\\t{{.Digest}}';
  const needDigest = digests || format.includes('{{.Digest}}');

  const filters = await parseFilters(ctx, (ref) => store.images.get(ref));
  const positional = ctx.args.positionals[0];
  if (positional !== undefined) filters.references.push(positional);
  const rows: ImageRow[] = [];
  for (let image of await store.images.list()) {
    if (!keep(image, filters)) continue;
    if (filters.references.length > 0) {
      // Only the matching names are shown, and an image with none is left out (as docker).
      const match = (n: string) => filters.references.some((p) => nameMatches(n, p));
      const names = image.names.filter(match);
      const repoDigests = image.repoDigests.filter(match);
      if (names.length === 0 && repoDigests.length === 0) continue;
      image = { ...image, names, repoDigests };
    }
    const size = await store.images.imageSize(image);
    rows.push(...imageRows(image, size, { trunc, digests, needDigest }));
  }
  ctx.stdout.write(renderFormat(format, rows, HEADERS));
  return 0;
}
