// `--isolation chroot`: for hosts without a working OCI runtime. The same spec as for runc,
// carried out with util-linux's unshare(1): new mount, pid, ipc and uts namespaces (and
// network when the spec asks for one), /proc mounted inside the new pid namespace, chroot
// into the rootfs, setgid/setuid, exec. The other mounts (/dev with its device nodes,
// /dev/pts, /dev/shm, /sys, binds) are made from this process below the rootfs before the
// start and unmounted after it, whatever happens.
//
// Weaker than a runtime, and said so: the process keeps root's full capabilities, no
// seccomp, no device cgroup, no masked paths, no rlimits, no hostname, no supplementary
// groups, and with network 'none' the loopback interface stays down. Those the spec asks for
// and we cannot honour are listed in the result's `warnings`.

import type { ChildProcess } from 'node:child_process';
import { chmod, readFile, stat, symlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { BuilderError } from '../errors.js';
import { applyMount, mknod, S_IF, sysAvailable, sysUnavailableReason, unmountTree } from '../sys/index.js';
import { DEV_LINKS, DEV_NODES } from './dev-nodes.js';
import { recordMountStubs, removeMountStubs } from './mount-stubs.js';
import { findExecutable } from './probe.js';
import { settleExit, spawnAndWait, watchCancellation } from './run-container.js';
import { notStartedError, quoteCommand } from './run-step-error.js';
import { ensureMountPoint } from './secure-join.js';
import type { OciMount, RuntimeSpec } from './spec.js';
import { type RunStdio, Tail } from './stdio.js';

export interface RunChrootOptions {
  /** Absolute path of the (mounted) root filesystem. */
  rootfs: string;
  spec: RuntimeSpec;
  stdio?: RunStdio;
  signal?: AbortSignal;
  forwardSignals?: boolean;
  killGraceMs?: number;
  reject?: boolean;
  cleanMountStubs?: boolean;
  tailLines?: number;
  /** Path of unshare(1); default found on PATH. */
  unshare?: string;
}

export interface ChrootResult {
  exitCode: number;
  signal?: NodeJS.Signals;
  command: string;
  stdoutTail: string;
  stderrTail: string;
  /** What the spec asked for that chroot isolation does not provide. */
  warnings: string[];
}

async function populateDev(dev: string): Promise<void> {
  for (const { name, major, minor } of DEV_NODES) {
    const path = join(dev, name);
    mknod(path, S_IF.CHR | 0o666, major, minor);
    await chmod(path, 0o666); // mknod is subject to the umask
  }
  for (const [name, target] of DEV_LINKS) await symlink(target, join(dev, name));
}

function isBind(m: OciMount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

/** The mounts made from the host side; /proc and mqueue belong to the new namespaces. */
function hostSideMounts(spec: RuntimeSpec, warnings: string[]): OciMount[] {
  const out: OciMount[] = [];
  for (const m of spec.mounts) {
    if (m.type === 'proc') {
      if (m.destination !== '/proc') warnings.push(`proc mount at ${m.destination} skipped`);
    } else if (m.type === 'mqueue') {
      warnings.push('no /dev/mqueue (it belongs to the IPC namespace)');
    } else if (m.type === 'cgroup' || m.type === 'cgroup2') {
      warnings.push(`no cgroup mount at ${m.destination}`);
    } else {
      out.push(m);
    }
  }
  return out;
}

function unsupported(spec: RuntimeSpec): string[] {
  const warnings: string[] = [];
  const p = spec.process;
  if (p.user.additionalGids && p.user.additionalGids.length > 0)
    warnings.push('supplementary groups are not set');
  if (spec.hostname !== undefined) warnings.push('the hostname is not set');
  if (p.terminal) warnings.push('no terminal is allocated');
  if (spec.root.readonly) warnings.push('the root filesystem stays writable');
  if (spec.linux.namespaces.some((n) => n.type === 'network'))
    warnings.push('loopback stays down in the new network namespace');
  if (p.user.umask !== undefined) warnings.push('the umask is not set');
  return warnings;
}

function childPids(pid: number): Promise<number[]> {
  return readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').then(
    (t) =>
      t
        .split(/\s+/)
        .filter((s) => s !== '')
        .map(Number),
    () => [],
  );
}

/**
 * Runs the spec's process chrooted into `rootfs` in fresh namespaces. Same contract as
 * runContainer: throws RunStepError on a non-zero exit (unless reject: false), on abort,
 * and always unmounts what it mounted and removes the mount stubs it caused.
 */
export async function runChroot(options: RunChrootOptions): Promise<ChrootResult> {
  const { rootfs, spec } = options;
  const command = quoteCommand(spec.process.args);
  if (!isAbsolute(rootfs)) throw new TypeError(`rootfs must be an absolute path: ${rootfs}`);
  if (options.signal?.aborted) {
    throw notStartedError(command, options.signal.reason);
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new BuilderError('EPRECONDITION', 'chroot isolation needs root');
  }
  if (!sysAvailable())
    throw new BuilderError(
      'EPRECONDITION',
      `chroot isolation needs the native addon: ${sysUnavailableReason()}`,
    );
  const unshare = options.unshare ?? findExecutable('unshare');
  if (!unshare) throw new BuilderError('EPRECONDITION', 'chroot isolation needs unshare(1) (util-linux)');

  const warnings = unsupported(spec);
  const mounts = hostSideMounts(spec, warnings);
  const stubs =
    options.cleanMountStubs === false
      ? undefined
      : await recordMountStubs(
          rootfs,
          spec.mounts.map((m) => m.destination),
        );
  const tails = { stdout: new Tail(), stderr: new Tail() };
  const stdio: RunStdio = options.stdio ?? {};
  let exit: { code: number | null; signal: NodeJS.Signals | null; error?: Error } | undefined;
  let child: ChildProcess | undefined;
  let exited = false;

  const kill = (signal: NodeJS.Signals): void => {
    if (exited || !child?.pid) return;
    if (signal === 'SIGKILL') {
      // unshare --kill-child: its death takes the namespace's init, and so the namespace, along.
      child.kill('SIGKILL');
      return;
    }
    void childPids(child.pid).then((pids) => {
      for (const pid of pids) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
    });
  };
  const cancellation = watchCancellation(options, kill);

  try {
    // /proc is mounted by unshare --mount-proc, inside the new pid namespace.
    for (const m of mounts) {
      const source = m.source ?? m.type ?? 'none';
      const kind = isBind(m) && !(await stat(source)).isDirectory() ? 'file' : 'dir';
      const target = await ensureMountPoint(rootfs, m.destination, kind);
      applyMount({ type: m.type ?? 'none', source, options: m.options ?? [] }, target);
      if (m.destination === '/dev' && m.type === 'tmpfs') await populateDev(target);
    }

    // As runc does: a missing working directory is created (and stays).
    await ensureMountPoint(rootfs, spec.process.cwd, 'dir');
    // unshare --mount-proc needs its mount point (a stub, removed afterwards).
    if (spec.linux.namespaces.some((n) => n.type === 'pid')) await ensureMountPoint(rootfs, '/proc', 'dir');

    const namespaces = new Set(spec.linux.namespaces.map((n) => n.type));
    const args = ['--fork', '--kill-child', '--mount'];
    if (namespaces.has('pid')) args.push('--pid', '--mount-proc=/proc');
    if (namespaces.has('ipc')) args.push('--ipc');
    if (namespaces.has('uts')) args.push('--uts');
    if (namespaces.has('network')) args.push('--net');
    args.push('--root', rootfs, '--wd', spec.process.cwd);
    const { uid, gid } = spec.process.user;
    if (gid !== 0 || uid !== 0) args.push('--setgid', String(gid), '--setuid', String(uid));
    args.push('--', ...spec.process.args);

    const env: Record<string, string> = {};
    for (const entry of spec.process.env) {
      const eq = entry.indexOf('=');
      env[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    cancellation.throwIfCanceled(command);
    exit = await spawnAndWait(
      unshare,
      args,
      stdio,
      tails,
      (c) => {
        child = c;
      },
      env,
    );
  } finally {
    exited = true;
    cancellation.dispose();
    unmountTree(rootfs, { belowOnly: true });
    if (stubs) await removeMountStubs(stubs);
  }

  // The same reading of an exit as runc's and the launcher's (no runtime messages here).
  return {
    ...settleExit({ runtime: unshare, command, exit, cancellation, errors: [], tails, options }),
    warnings,
  };
}
