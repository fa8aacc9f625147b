// Which snapshotter works under a given root: tries a real overlay mount there (the upper
// dir must live on the root's filesystem, and overlay refuses some, e.g. overlay itself).

import { readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { sysAvailable, sysUnavailableReason } from '../sys/index.js';
import { CopySnapshotter } from './copy-snapshotter.js';
import { mountAll, unmountAll } from './mount.js';
import { escapeOverlayPath, OverlaySnapshotter, overlayFeatureOptions } from './overlay-snapshotter.js';
import type { Snapshotter } from './types.js';

export interface SnapshotterChoice {
  kind: 'overlay' | 'copy';
  snapshotter: Snapshotter;
  /** Why overlay was not chosen (undefined when it was). */
  reason?: string;
}

/**
 * Mounts lower+upper under root/tmp, writes through it, checks both layers. Throws on failure.
 * Then whether the kernel takes the `volatile` option (a second mount; false when refused).
 */
async function tryOverlay(root: string): Promise<{ volatile: boolean }> {
  if (process.platform !== 'linux') throw new Error(`overlayfs is Linux-only (this is ${process.platform})`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('mounting needs root');
  if (!sysAvailable()) throw new Error(sysUnavailableReason());
  await mkdir(join(root, 'tmp'), { recursive: true });
  const dir = await mkdtemp(join(root, 'tmp', 'overlay-probe-'));
  try {
    const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => join(dir, d)) as [
      string,
      string,
      string,
      string,
    ];
    for (const d of [lower, upper, work, merged]) await mkdir(d);
    await writeFile(join(lower, 'a'), 'lower');
    const overlay = (upperDir: string, workDir: string, extra: string[] = []) => [
      {
        type: 'overlay',
        source: 'overlay',
        options: [
          ...overlayFeatureOptions(),
          `lowerdir=${escapeOverlayPath(lower)}`,
          `upperdir=${escapeOverlayPath(upperDir)}`,
          `workdir=${escapeOverlayPath(workDir)}`,
          ...extra,
        ],
      },
    ];
    await mountAll(overlay(upper, work), merged);
    try {
      if ((await readFile(join(merged, 'a'), 'utf8')) !== 'lower')
        throw new Error('overlay does not show the lower dir');
      await writeFile(join(merged, 'b'), 'upper');
      if ((await readFile(join(upper, 'b'), 'utf8')) !== 'upper')
        throw new Error('overlay did not write to the upper dir');
    } finally {
      unmountAll(merged);
    }
    const [upper2, work2] = [join(dir, 'upper2'), join(dir, 'work2')];
    for (const d of [upper2, work2]) await mkdir(d);
    try {
      await mountAll(overlay(upper2, work2, ['volatile']), merged);
    } catch {
      return { volatile: false };
    }
    unmountAll(merged);
    return { volatile: true };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A successful probe is remembered in `root/overlay-probe.json` for the same kernel and the same
 * filesystem (device) under root: the probe mounts and unmounts an overlay, and unmounting an
 * overlay syncs its upper filesystem, which on a busy disk made every build, even a fully
 * cached one, wait ~0.1-0.2 s. A failure is never remembered (it is probed again next time).
 */
const PROBE_MEMO = 'overlay-probe.json';

// Read with synchronous calls: every build asks, and the awaited ones were five thread-pool
// round trips.
function probeKey(root: string): string | undefined {
  try {
    return `${release()} dev=${statSync(root).dev}`;
  } catch {
    return undefined;
  }
}

function rememberedOverlay(root: string): { volatile: boolean } | undefined {
  const key = probeKey(root);
  if (key === undefined) return undefined;
  let text = '';
  try {
    text = readFileSync(join(root, PROBE_MEMO), 'utf8');
  } catch {
    // not probed yet
  }
  try {
    const memo = JSON.parse(text) as { overlay?: string; volatile?: unknown };
    // A memo from before the volatile probe (no such field) is probed again.
    if (memo.overlay !== key || typeof memo.volatile !== 'boolean') return undefined;
    return { volatile: memo.volatile };
  } catch {
    return undefined;
  }
}

async function rememberOverlay(root: string, found: { volatile: boolean }): Promise<void> {
  const key = probeKey(root);
  if (key === undefined) return;
  const tmp = join(root, `${PROBE_MEMO}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify({ overlay: key, volatile: found.volatile })}\n`);
    await rename(tmp, join(root, PROBE_MEMO));
  } catch {
    await rm(tmp, { force: true }).catch(() => {});
  }
}

/**
 * Picks the snapshotter for `root`: overlay when a test mount under root works (or worked before,
 * see PROBE_MEMO), else the copy fallback, with the reason. `prefer: 'copy'` skips the probe.
 */
export async function probeSnapshotter(
  root: string,
  options: { prefer?: 'overlay' | 'copy' } = {},
): Promise<SnapshotterChoice> {
  if (options.prefer === 'copy') {
    return { kind: 'copy', snapshotter: new CopySnapshotter(root), reason: 'copy snapshotter requested' };
  }
  try {
    let found = rememberedOverlay(root);
    if (found === undefined) {
      found = await tryOverlay(root);
      await rememberOverlay(root, found);
    }
    return { kind: 'overlay', snapshotter: new OverlaySnapshotter(root, found) };
  } catch (err) {
    const reason = `overlayfs unusable under ${root}: ${(err as Error).message}`;
    return { kind: 'copy', snapshotter: new CopySnapshotter(root), reason };
  }
}
