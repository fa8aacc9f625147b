// `strata prune` (also `system prune`) and `strata image prune`: remove unnamed images (with -a
// every image no container was created from, as docker), then collect garbage
// (blobs, snapshots, stale records; see src/store/gc.ts), and print what went and the space
// reclaimed. The build cache is kept (`builder prune` will drop it).

import { ContainerRecords } from '../../container/container-records.js';
import { BuilderError } from '../../errors.js';
import { CopySnapshotter } from '../../snapshot/copy-snapshotter.js';
import { FilePool } from '../../snapshot/file-pool.js';
import { collectGarbage, pruneImages, type SnapshotCollector } from '../../store/gc.js';
import type { Store } from '../../store/store.js';
import { optBool } from '../args.js';
import type { CommandContext } from '../command.js';
import { confirm } from '../prompt.js';
import { humanSize } from '../render/units.js';
import { openCliStore } from '../store-root.js';

/** The snapshotter's bookkeeping over the store's snapshots (no mounting needed to list or remove). */
export function snapshotCollector(store: Store): SnapshotCollector {
  const snapshots = new CopySnapshotter(store.snapshotsDir);
  const filePool = FilePool.of(store.snapshotsDir);
  return {
    list: () => snapshots.list(),
    remove: (name) => snapshots.remove(name),
    usage: (name) => snapshots.usage(name),
    filePool,
  };
}

/** $STRATA_GC_GRACE (seconds) overrides GC's grace period (tests; a store no one else uses). */
function gracePeriod(env: NodeJS.ProcessEnv): { gracePeriodMs?: number } {
  const text = env.STRATA_GC_GRACE;
  if (text === undefined || text === '') return {};
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0)
    throw new BuilderError(
      'EINVAL',
      `STRATA_GC_GRACE must be a number of seconds, not ${JSON.stringify(text)}`,
    );
  return { gracePeriodMs: seconds * 1000 };
}

/** Images that containers (running or not) were created from: docker never prunes those. */
async function imagesInUse(store: Store): Promise<Set<string>> {
  const records = await new ContainerRecords(store.root).list().catch(() => []);
  return new Set(records.map((r) => r.config.imageId));
}

async function run(ctx: CommandContext, warning: string, system: boolean): Promise<number> {
  const all = optBool(ctx.args, 'all');
  if (!optBool(ctx.args, 'force') && !(await confirm(ctx, warning))) return 0;
  const store = await openCliStore(ctx.env);
  const grace = gracePeriod(ctx.env);
  const images = await pruneImages(store, { all, inUse: await imagesInUse(store), ...grace });
  const gc = await collectGarbage(store, {
    snapshots: snapshotCollector(store),
    signal: ctx.signal,
    ...grace,
  });
  // The compressed forms remembered for push, of layers GC has just removed.
  const { CompressedLayers } = await import('../../image/compressed-layer.js');
  await new CompressedLayers(store).prune();
  if (images.lines.length > 0) ctx.stdout.write(`Deleted Images:\n${images.lines.join('\n')}\n\n`);
  if (system && gc.removedSnapshots.length > 0)
    ctx.stdout.write(`Deleted snapshots:\n${gc.removedSnapshots.join('\n')}\n\n`);
  ctx.stdout.write(`Total reclaimed space: ${humanSize(gc.reclaimedBytes)}\n`);
  return 0;
}

export async function imagePrune(ctx: CommandContext): Promise<number> {
  const warning = optBool(ctx.args, 'all')
    ? 'WARNING! This will remove all images without at least one container associated to them.'
    : 'WARNING! This will remove all dangling images.';
  return run(ctx, warning, false);
}

export async function systemPrune(ctx: CommandContext): Promise<number> {
  const warning = [
    'WARNING! This will remove:',
    optBool(ctx.args, 'all') ? '  - all images' : '  - all dangling images',
    '  - all blobs and snapshots no image or build cache entry uses',
    '',
  ].join('\n');
  return run(ctx, warning, true);
}
