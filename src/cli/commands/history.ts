// `strata history IMAGE`: the config's history, newest first, as docker prints it: IMAGE is the
// image ID on the newest entry and <missing> on the others (they have no image of their own),
// CREATED BY is cut to 45 characters with "…" unless --no-trunc, SIZE is the uncompressed size
// of the layer a non-empty entry made (0B for empty ones). -H=false prints RFC 3339 times and
// sizes in bytes; -q only the IDs; --format json|TEMPLATE.

import type { ImageStore } from '../../store/image-store.js';
import { type StoredImage, shortId } from '../../store/image-store.js';
import { optBool, optString } from '../args.js';
import type { CommandContext } from '../command.js';
import { renderFormat } from '../render/format.js';
import { STRUCT_NAME } from '../render/go-template.js';
import { humanDuration, humanSizeWithPrecision, rfc3339Seconds } from '../render/units.js';
import { openCliStore } from '../store-root.js';

const DEFAULT_TABLE = 'table {{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}';
const NON_HUMAN_TABLE = 'table {{.ID}}\\t{{.CreatedAt}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}';
const HEADERS = {
  ID: 'IMAGE',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  CreatedBy: 'CREATED BY',
  Size: 'SIZE',
  Comment: 'COMMENT',
};

export interface HistoryRow {
  Comment: string;
  CreatedAt: string;
  CreatedBy: string;
  CreatedSince: string;
  ID: string;
  Size: string;
}

/** formatter.Ellipsis for plain-width text: keep width-1 characters and add "…". */
export function ellipsis(text: string, maxWidth: number): string {
  const chars = [...text];
  if (chars.length <= maxWidth) return text;
  if (maxWidth <= 0) return '';
  if (maxWidth === 1) return chars[0] as string;
  return `${chars.slice(0, maxWidth - 1).join('')}…`;
}

export interface HistoryItem {
  id: string;
  /** Unix seconds (0 when unknown, as docker). */
  created: number;
  createdBy: string;
  size: number;
  comment: string;
}

/** The history items, newest first, with the sizes of the layers the entries made. */
export async function historyItems(images: ImageStore, image: StoredImage): Promise<HistoryItem[]> {
  const sizes = await images.layerSizes(image);
  const items: HistoryItem[] = [];
  let layer = 0;
  for (const h of image.config.history ?? []) {
    let size = 0;
    if (h.empty_layer !== true) {
      size = sizes[layer] ?? 0;
      layer++;
    }
    const t = Date.parse(h.created ?? '');
    items.push({
      id: '<missing>',
      created: Number.isNaN(t) ? 0 : Math.floor(t / 1000),
      createdBy: h.created_by ?? '',
      size,
      comment: h.comment ?? '',
    });
  }
  items.reverse();
  if (items[0] !== undefined) items[0].id = image.id;
  return items;
}

export function historyRow(
  item: HistoryItem,
  options: { trunc: boolean; human: boolean; now?: number },
): HistoryRow {
  const createdAt = rfc3339Seconds(new Date(item.created * 1000).toISOString());
  const createdBy = item.createdBy.replaceAll('\t', ' ');
  const row: HistoryRow = {
    Comment: item.comment,
    CreatedAt: createdAt,
    CreatedBy: options.trunc ? ellipsis(createdBy, 45) : createdBy,
    CreatedSince: options.human
      ? `${humanDuration((options.now ?? Date.now()) - item.created * 1000)} ago`
      : createdAt,
    ID: options.trunc && item.id !== '<missing>' ? shortId(item.id) : item.id,
    Size: options.human ? humanSizeWithPrecision(item.size, 3) : String(item.size),
  };
  Object.defineProperty(row, STRUCT_NAME, { value: '*formatter.historyContext', enumerable: false });
  return row;
}

export async function history(ctx: CommandContext): Promise<number> {
  const store = await openCliStore(ctx.env);
  const image = await store.images.get(ctx.args.positionals[0] as string);
  const human = ctx.args.options.human === undefined ? true : optBool(ctx.args, 'human');
  const trunc = !optBool(ctx.args, 'no-trunc');
  let format = optString(ctx.args, 'format') ?? '';
  if (optBool(ctx.args, 'quiet')) format = '{{.ID}}';
  else if (format === '' || format === 'table') format = human ? DEFAULT_TABLE : NON_HUMAN_TABLE;
  const rows = (await historyItems(store.images, image)).map((item) => historyRow(item, { trunc, human }));
  ctx.stdout.write(renderFormat(format, rows, HEADERS));
  return 0;
}
