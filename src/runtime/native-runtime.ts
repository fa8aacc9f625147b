// RUN steps through Strata's own launcher (native/strata_runtime.c, built with the addon)
// instead of runc: the same spec, the same namespaces, mounts, device rules, capabilities,
// masked and read-only paths, ~3 ms a container instead of runc's 20-30 (two Go start-ups and
// a cgroup attach that waits for an RCU grace period). docs/decisions.md says why and what
// differs. Used only where it works: a probe runs a trial container first, and a spec it
// cannot carry out (a terminal, user namespaces…) goes to runc.
//
// Device access is the one thing runc enforces through a cgroup: the launcher joins a
// device cgroup holding runc's default rules, made once (under a temporary name, then renamed,
// so nobody ever joins it half-configured) and shared by every container of every build.

import type { ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { BuilderError } from '../errors.js';
import { randomHex, readMountInfo, sysAddonPath } from '../sys/index.js';
import { clampRlimits } from './host-limits.js';
import { planLaunch } from './launch-plan.js';
import { recordMountStubs, removeMountStubs } from './mount-stubs.js';
import { hostRootfs } from './probe.js';
import { recall, remember } from './probe-memo.js';
import { type RunResult, settleExit, spawnAndWait, watchCancellation } from './run-container.js';
import { notStartedError, quoteCommand } from './run-step-error.js';
import { ensureMountPoint } from './secure-join.js';
import { generateSpec, type RuntimeSpec } from './spec.js';
import { type RunStdio, Tail } from './stdio.js';

export interface NativeRuntime {
  /** Absolute path of the strata-runtime binary. */
  path: string;
  /** The shared device cgroup's `tasks` file. */
  cgroupTasks: string;
}

export type NativeProbe = ({ ok: true } & NativeRuntime) | { ok: false; reason: string };

/** runc's default device rules (what `devices.list` shows for a runc container). */
export const DEVICE_RULES: readonly string[] = Object.freeze([
  'c *:* m',
  'b *:* m',
  'c 1:3 rwm',
  'c 1:5 rwm',
  'c 1:7 rwm',
  'c 1:8 rwm',
  'c 1:9 rwm',
  'c 5:0 rwm',
  'c 5:2 rwm',
  'c 10:200 rwm',
  'c 136:* rwm',
]);

const CGROUP_NAME = 'strata-containers';

/** The launcher: $STRATA_LAUNCHER, else `strata-runtime` next to the addon. */
export function locateLauncher(): string | undefined {
  const candidates = [process.env.STRATA_LAUNCHER];
  const addon = sysAddonPath();
  if (addon !== undefined) candidates.push(join(dirname(addon), 'strata-runtime'));
  for (const path of candidates) {
    if (path === undefined || path === '' || !isAbsolute(path)) continue;
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Our own cgroup v1 device cgroup directory (host path), or why there is none. */
export function ownDeviceCgroup(
  selfCgroup = readFileSync('/proc/self/cgroup', 'utf8'),
  mounts = readMountInfo(),
): { dir: string } | { reason: string } {
  const line = selfCgroup
    .split('\n')
    .map((l) => /^\d+:([^:]*):(.*)$/.exec(l))
    .find((m) => m?.[1]?.split(',').includes('devices'));
  if (!line) return { reason: 'no cgroup v1 device controller (a cgroup v2 host)' };
  const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes('devices'));
  if (!mount) return { reason: 'the cgroup v1 device controller is not mounted' };
  // The mount may show only part of the hierarchy (a container's view): our path is then
  // relative to the part it shows.
  const path = line[2] as string;
  const root = mount.root === '/' ? '' : mount.root;
  if (root !== '' && path !== root && !path.startsWith(`${root}/`))
    return { reason: `our device cgroup ${path} is outside the mounted ${mount.root}` };
  const below = path.slice(root.length).replace(/^\/+/, '');
  return { dir: below === '' ? mount.mountPoint : join(mount.mountPoint, below) };
}

function rulesOf(dir: string): Set<string> {
  return new Set(
    readFileSync(join(dir, 'devices.list'), 'utf8')
      .split('\n')
      .filter((l) => l !== ''),
  );
}

function sameRules(dir: string): boolean {
  const have = rulesOf(dir);
  return have.size === DEVICE_RULES.length && DEVICE_RULES.every((r) => have.has(r));
}

/** The `tasks` file of the shared device cgroup, made when missing. Throws with the reason. */
export function ensureDeviceCgroup(parent?: string): string {
  let base = parent;
  if (base === undefined) {
    const own = ownDeviceCgroup();
    if ('reason' in own) throw new Error(own.reason);
    base = own.dir;
  }
  const dir = join(base, CGROUP_NAME);
  if (!existsSync(dir)) {
    const tmp = `${dir}.${process.pid}.${randomHex(3)}`;
    mkdirSync(tmp);
    try {
      writeFileSync(join(tmp, 'devices.deny'), 'a');
      for (const rule of DEVICE_RULES) writeFileSync(join(tmp, 'devices.allow'), rule);
      renameSync(tmp, dir);
    } catch (err) {
      rmdirSync(tmp);
      // Another build made it first: use theirs (checked below).
      if (!existsSync(dir)) throw err;
    }
  }
  if (!sameRules(dir)) throw new Error(`${dir} holds device rules other than runc's defaults`);
  return join(dir, 'tasks');
}

export interface RunNativeOptions {
  runtime: NativeRuntime;
  /** Absolute path of the (mounted) root filesystem. */
  rootfs: string;
  spec: RuntimeSpec;
  /** Where the launcher writes an error (one line); created only on failure, then removed. */
  logDir: string;
  stdio?: RunStdio;
  signal?: AbortSignal;
  forwardSignals?: boolean;
  killGraceMs?: number;
  reject?: boolean;
  tailLines?: number;
}

/**
 * Runs `spec` in a container rooted at `rootfs` with the launcher and waits for it. Same
 * contract as runContainer: resolves with the exit code, throws RunStepError on a non-zero
 * exit (unless reject: false), on a process that cannot be started and on abort, and removes
 * the mount points it had to create in the rootfs.
 */
export async function runNative(options: RunNativeOptions): Promise<Omit<RunResult, 'id'>> {
  const { runtime, rootfs } = options;
  const spec = clampRlimits(options.spec);
  const command = quoteCommand(spec.process.args);
  if (!isAbsolute(rootfs)) throw new TypeError(`rootfs must be an absolute path: ${rootfs}`);
  if (options.signal?.aborted) {
    throw notStartedError(command, options.signal.reason);
  }
  const stubs = await recordMountStubs(
    rootfs,
    spec.mounts.map((m) => m.destination),
  );
  const tails = { stdout: new Tail(), stderr: new Tail() };
  const stdio = options.stdio ?? {};
  let child: ChildProcess | undefined;
  let exited = false;
  // The launcher passes signals on to the container's init; SIGKILL ends the launcher, and the
  // kernel (parent-death signal) the container with it.
  const cancellation = watchCancellation(options, (signal) => {
    if (!exited) child?.kill(signal);
  });
  mkdirSync(options.logDir, { recursive: true });
  const logPath = join(options.logDir, `launch-${randomHex(6)}.log`);
  let exit: Awaited<ReturnType<typeof spawnAndWait>> | undefined;
  try {
    const plan = await planLaunch(spec, {
      rootfs,
      cgroupTasks: runtime.cgroupTasks,
      mountPoint: (destination, kind) => ensureMountPoint(rootfs, destination, kind),
      isDirectory: async (source) => statSync(source, { throwIfNoEntry: false })?.isDirectory() ?? false,
    });
    // Callers check unsupportedReason() first and use runc for such specs.
    if (!plan.ok) throw new BuilderError('EPRECONDITION', `the native launcher does not do ${plan.reason}`);
    cancellation.throwIfCanceled(command);
    exit = await spawnAndWait(
      runtime.path,
      [logPath, ...plan.args],
      stdio,
      tails,
      (c) => {
        child = c;
      },
      {},
    );
  } finally {
    exited = true;
    cancellation.dispose();
    await removeMountStubs(stubs);
  }
  let errors: string[] = [];
  if (exit.code !== 0 && existsSync(logPath)) {
    errors = readFileSync(logPath, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    rmSync(logPath, { force: true });
  }
  return settleExit({ runtime: runtime.path, command, exit, cancellation, errors, tails, options });
}

async function trialContainer(runtime: NativeRuntime): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-launcher-probe-'));
  try {
    const { mounts, args } = await hostRootfs(dir);
    const rootfs = join(dir, 'rootfs');
    const spec = generateSpec({ args, mounts, rootfs, network: 'host' });
    const result = await runNative({ runtime, rootfs, spec, logDir: dir, reject: false });
    return result.exitCode === 0 ? undefined : `a test container exited with ${result.exitCode}`;
  } catch (err) {
    return `a test container failed: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

let probed: Promise<NativeProbe> | undefined;

/** A launcher that ran its trial container is remembered (probe-memo.ts): the trial costs 20-27 ms. */
const NATIVE_MEMO = '/run/strata/native-runtime-probe.json';

/** The launcher, if it runs a container here (cached per process), or why not. */
export function probeNativeRuntime(): Promise<NativeProbe> {
  probed ??= (async (): Promise<NativeProbe> => {
    if (process.platform !== 'linux')
      return { ok: false, reason: `containers need Linux (this is ${process.platform})` };
    if (typeof process.getuid === 'function' && process.getuid() !== 0)
      return { ok: false, reason: 'the native launcher needs root' };
    const path = locateLauncher();
    if (path === undefined)
      return {
        ok: false,
        reason: 'strata-runtime is not built (npm run build:native builds it with the addon)',
      };
    let cgroupTasks: string;
    try {
      cgroupTasks = ensureDeviceCgroup();
    } catch (err) {
      return { ok: false, reason: `no device cgroup: ${(err as Error).message}` };
    }
    const runtime: NativeRuntime = { path, cgroupTasks };
    const remembered = await recall<NativeRuntime>(
      NATIVE_MEMO,
      (info) => info.path === path && info.cgroupTasks === cgroupTasks,
    );
    if (remembered) return { ok: true, ...remembered };
    const failure = await trialContainer(runtime);
    if (failure !== undefined) return { ok: false, reason: failure };
    await remember(NATIVE_MEMO, runtime).catch(() => {});
    return { ok: true, ...runtime };
  })();
  return probed;
}
