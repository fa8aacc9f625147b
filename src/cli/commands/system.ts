// `strata system check` and `strata system df`.

import { checkStore } from '../../store/check.js';
import { diskUsage, type UsageRow } from '../../store/disk-usage.js';
import { optString } from '../args.js';
import type { CommandContext } from '../command.js';
import { renderFormat } from '../render/format.js';
import { STRUCT_NAME } from '../render/go-template.js';
import { humanSize } from '../render/units.js';
import { openCliStore } from '../store-root.js';
import { snapshotCollector } from './prune.js';

export async function check(ctx: CommandContext): Promise<number> {
  const store = await openCliStore(ctx.env);
  const result = await checkStore(store, { signal: ctx.signal });
  const counts = `${result.blobs} blobs (${humanSize(result.bytes)}), ${result.names} names, ${result.images} images`;
  for (const p of result.problems) ctx.stdout.write(`${p.kind} ${p.subject}: ${p.message}\n`);
  if (result.abandonedIngests > 0)
    ctx.stdout.write(
      `note: ${result.abandonedIngests} unfinished writes in ${store.content.ingestDir} (strata prune removes them)\n`,
    );
  if (result.problems.length > 0) {
    ctx.stdout.write(
      `${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} found in ${counts}\n`,
    );
    return 1;
  }
  ctx.stdout.write(`checked ${counts}: no problems found\n`);
  return 0;
}

const DF_TABLE = 'table {{.Type}}\\t{{.TotalCount}}\\t{{.Active}}\\t{{.Size}}\\t{{.Reclaimable}}';
const DF_HEADERS = {
  Type: 'TYPE',
  TotalCount: 'TOTAL',
  Active: 'ACTIVE',
  Size: 'SIZE',
  Reclaimable: 'RECLAIMABLE',
};

function dfRow(type: string, row: UsageRow, percent: boolean): Record<string, string> {
  const reclaimable =
    percent && row.size > 0
      ? `${humanSize(row.reclaimable)} (${Math.trunc((row.reclaimable * 100) / row.size)}%)`
      : humanSize(row.reclaimable);
  const out = {
    Active: String(row.active),
    Reclaimable: reclaimable,
    Size: humanSize(row.size),
    TotalCount: String(row.total),
    Type: type,
  };
  Object.defineProperty(out, STRUCT_NAME, { value: '*formatter.diskUsageContext', enumerable: false });
  return out;
}

export async function df(ctx: CommandContext): Promise<number> {
  const store = await openCliStore(ctx.env);
  const usage = await diskUsage(store, { snapshots: snapshotCollector(store) });
  const rows = [
    dfRow('Images', usage.images, true),
    dfRow('Layers', usage.layers, true),
    dfRow('Snapshots', usage.snapshots, true),
    dfRow('Build Cache', usage.buildCache, false),
  ];
  let format = optString(ctx.args, 'format') ?? '';
  if (format === '' || format === 'table') format = DF_TABLE;
  ctx.stdout.write(renderFormat(format, rows, DF_HEADERS));
  return 0;
}
