// Prerequisites of the integration tests, probed for real, and loud skips when missing:
// a skipped integration test prints why on stderr and in the test report.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { findExecutable, probeRuntime, type RuntimeInfo } from '../../src/runtime/index.js';
import { probeSnapshotter } from '../../src/snapshot/index.js';
import { readMountInfo, sysAvailable, sysUnavailableReason, unmountTree } from '../../src/sys/index.js';

export const BUSYBOX = '/bin/busybox';

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Why mounting cannot be tested here, or undefined. */
export function mountReason(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (!isRoot()) return 'not root';
  if (!sysAvailable())
    return `native addon unavailable: ${sysUnavailableReason()} (run npm run build:native)`;
  return undefined;
}

let overlay: Promise<string | undefined> | undefined;

/** Why overlayfs cannot be tested here, or undefined. */
export function overlayReason(): Promise<string | undefined> {
  overlay ??= (async () => {
    const base = mountReason();
    if (base) return base;
    const dir = await mkdtemp(join(tmpdir(), 'strata-overlay-probe-'));
    try {
      const choice = await probeSnapshotter(dir);
      return choice.kind === 'overlay' ? undefined : choice.reason;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return overlay;
}

/** The runtime to test with, or why there is none. */
export async function runtimeOrReason(): Promise<RuntimeInfo | string> {
  const base = mountReason();
  if (base) return base;
  if (!existsSync(BUSYBOX)) return `no ${BUSYBOX} (apt-get install busybox-static)`;
  const probe = await probeRuntime();
  if (!probe.ok) return `no working OCI runtime: ${probe.reason}`;
  return { name: probe.name, path: probe.path, version: probe.version };
}

export function chrootReason(): string | undefined {
  const base = mountReason();
  if (base) return base;
  if (!existsSync(BUSYBOX)) return `no ${BUSYBOX} (apt-get install busybox-static)`;
  if (!findExecutable('unshare')) return 'no unshare(1) (util-linux)';
  return undefined;
}

/** Skips the test loudly when `reason` is set; returns true when skipped. */
export function skipIf(t: TestContext, reason: string | undefined): boolean {
  if (reason === undefined) return false;
  console.warn(`SKIP ${t.name}: ${reason}`);
  t.skip(reason);
  return true;
}

/**
 * A busybox root filesystem in `dir` (which must exist): bin/busybox plus relative symlinks
 * for every applet (busybox --install -s would point them at /usr/bin/busybox, absent here),
 * the mount points an image has, and a minimal /etc.
 */
export async function makeBusyboxRootfs(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await copyFile(BUSYBOX, join(dir, 'bin', 'busybox'));
  await chmod(join(dir, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => a !== '' && a !== 'busybox');
  for (const applet of applets) await symlink('busybox', join(dir, 'bin', applet));
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'root', 'etc'])
    await mkdir(join(dir, d), { recursive: true });
  await chmod(join(dir, 'tmp'), 0o1777);
  await writeFile(
    join(dir, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n',
  );
  await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\napp:x:1000:\n');
  await writeFile(join(dir, 'etc', 'hosts'), '');
  await writeFile(join(dir, 'etc', 'resolv.conf'), '');
}

/** Mount points at or below `dir` (a real path) in this process's mount table. */
export function mountsBelow(dir: string): string[] {
  return readMountInfo()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** Temp dir under /tmp, removed by the returned cleanup (after unmounting anything left). */
export async function tempRoot(prefix: string): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return {
    path,
    cleanup: async () => {
      if (sysAvailable() && isRoot()) unmountTree(path);
      await rm(path, { recursive: true, force: true });
    },
  };
}

/**
 * A stand-in builder: `script` (an ES module) in a child Node process, resolved once it has
 * printed "up" (its stdout is a pipe; stderr is ours). For tests that kill a builder mid-step.
 */
export async function builderUntilUp(script: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('up') && resolve());
    child.once('exit', (code) => reject(new Error(`builder exited early (${code})`)));
  });
  return child;
}
