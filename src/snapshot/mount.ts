// Mounting a snapshot's Mount[] at a directory, and making sure it does not stay mounted:
// withMounted() unmounts on every exit path, cleanupStaleMounts() after a crash.

import { mkdir, realpath } from 'node:fs/promises';
import { applyMount, MS, mount, unmountTree } from '../sys/index.js';
import type { Mount } from './types.js';

/**
 * Mounts `mounts` at `target`, in order (later ones on top), then marks the target private
 * so that mounts made below it later (a runtime's /proc, /dev…) do not propagate to peer
 * namespaces. On failure, whatever was mounted is unmounted again before rethrowing.
 * `target` is created when missing.
 */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  await mkdir(target, { recursive: true });
  try {
    for (const m of mounts) applyMount(m, target);
    if (mounts.length > 0) mount(null, target, null, MS.PRIVATE, null);
  } catch (err) {
    unmountTree(target);
    throw err;
  }
}

/** Unmounts everything at or below `target`, most recent first. Returns the mount points. */
export function unmountAll(target: string): string[] {
  return unmountTree(target);
}

/**
 * Mounts, runs `fn(target)`, and unmounts everything at or below `target`, whether `fn`
 * returns, throws or is aborted. (Nothing runs after SIGKILL: cleanupStaleMounts() is the
 * backstop, and the CLI turns SIGINT/SIGTERM into an abort so this `finally` runs.)
 */
export async function withMounted<T>(
  mounts: readonly Mount[],
  target: string,
  fn: (target: string) => Promise<T>,
): Promise<T> {
  await mountAll(mounts, target);
  try {
    return await fn(await realpath(target));
  } finally {
    unmountTree(target);
  }
}

/**
 * Crash recovery: unmounts every mount under `root` (read from /proc/self/mountinfo), e.g.
 * the rootfs of a step whose process was killed. Call it before using a store root when no
 * other process is building in it. Returns the mount points unmounted.
 */
export function cleanupStaleMounts(root: string): string[] {
  return unmountTree(root);
}
