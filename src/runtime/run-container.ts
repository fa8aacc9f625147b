// One process in a container, with an OCI runtime (runc or crun): write config.json into
// the bundle, `runc run` it in the foreground (one process, no create/start round trips),
// stream its output, forward cancellation, and make sure the container's state is deleted.

import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { BuilderError } from '../errors.js';
import { randomHex } from '../sys/index.js';
import { childProcess } from '../sys/lazy-builtins.js';
import { clampRlimits } from './host-limits.js';
import { recordMountStubs, removeMountStubs } from './mount-stubs.js';
import type { RuntimeInfo } from './probe.js';
import {
  canceledStepError,
  exitCodeOf,
  notStartedError,
  quoteCommand,
  RunStepError,
  signalNumber,
} from './run-step-error.js';
import type { RuntimeSpec } from './spec.js';
import { connectStdio, type RunStdio, spawnStdio, Tail } from './stdio.js';

/** runc's state directory for our containers, apart from other users of runc. */
export const DEFAULT_STATE_ROOT = '/run/strata/runc';

/** Prefix of the container ids we generate (cleanupStaleContainers looks for it). */
export const CONTAINER_ID_PREFIX = 'strata-';

export interface RunContainerOptions {
  runtime: RuntimeInfo;
  /** Directory for config.json and the runtime's log; created when missing; left in place. */
  bundleDir: string;
  /** Absolute path of the (mounted) root filesystem. */
  rootfs: string;
  spec: RuntimeSpec;
  /** Container id; default strata-<random>. Must be unique among running containers. */
  id?: string;
  /** The runtime's --root; default DEFAULT_STATE_ROOT. */
  stateRoot?: string;
  stdio?: RunStdio;
  signal?: AbortSignal;
  /** While running, forward this process's SIGINT/SIGTERM to the container (a second one kills). Default true. */
  forwardSignals?: boolean;
  /** After an abort's SIGTERM, how long before SIGKILL. Default 5000 ms. */
  killGraceMs?: number;
  /** Throw a RunStepError on a non-zero exit (default). false: resolve with the exit code. */
  reject?: boolean;
  /** Remove mount points the runtime had to create in the rootfs (default true). */
  cleanMountStubs?: boolean;
  /** Lines of stderr kept for errors; default 20. */
  tailLines?: number;
}

export interface RunResult {
  id: string;
  exitCode: number;
  /** The signal that ended the process, when we sent it (abort or forwarding). */
  signal?: NodeJS.Signals;
  command: string;
  stdoutTail: string;
  stderrTail: string;
}

function runQuiet(
  file: string,
  args: string[],
  timeoutMs = 15_000,
): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    childProcess().execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}

/** Errors the runtime logged (its --log, JSON lines), prefixes like "runc run failed: " removed. */
async function runtimeErrors(logPath: string): Promise<string[]> {
  let text: string;
  try {
    text = readFileSync(logPath, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) {
        out.push(entry.msg.replace(/^\w+ \w+ failed: /, ''));
      }
    } catch {
      out.push(line);
    }
  }
  return out;
}

/**
 * Docker's exit codes for a process that could not be executed: 127 when the executable
 * does not exist, 126 when it cannot be run.
 */
function execFailureCode(message: string): number | undefined {
  if (!/\bexec\b|executable/.test(message)) return undefined;
  if (/executable file not found|no such file or directory/i.test(message)) return 127;
  if (/permission denied|exec format error|is a directory/i.test(message)) return 126;
  return undefined;
}

/** A terminal spec makes the runtime open /dev/tty: without a controlling terminal that fails (ENXIO). */
function hasControllingTerminal(): boolean {
  try {
    closeSync(openSync('/dev/tty', 'r'));
    return true;
  } catch {
    return false;
  }
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

/** Watches an abort signal and this process's SIGINT/SIGTERM; calls `kill` with escalation. */
export function watchCancellation(
  options: { signal?: AbortSignal; forwardSignals?: boolean; killGraceMs?: number },
  kill: (signal: NodeJS.Signals) => void,
): {
  canceled: () => boolean;
  /** A step canceled before its process starts ends as a canceled RunStepError for `command`. */
  throwIfCanceled: (command: string) => void;
  sent: () => NodeJS.Signals | undefined;
  dispose: () => void;
} {
  let canceled = false;
  let sent: NodeJS.Signals | undefined;
  let timer: NodeJS.Timeout | undefined;
  const send = (signal: NodeJS.Signals): void => {
    sent = signal;
    kill(signal);
  };
  const onAbort = (): void => {
    if (canceled) return;
    canceled = true;
    send('SIGTERM');
    timer = setTimeout(() => send('SIGKILL'), options.killGraceMs ?? 5000);
    timer.unref();
  };
  let forwarded = 0;
  const onProcessSignal = (signal: NodeJS.Signals): void => {
    forwarded++;
    send(forwarded === 1 ? signal : 'SIGKILL');
  };
  if (options.signal) {
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener('abort', onAbort, { once: true });
  }
  const forward = options.forwardSignals ?? true;
  if (forward) {
    process.on('SIGINT', onProcessSignal);
    process.on('SIGTERM', onProcessSignal);
  }
  return {
    canceled: () => canceled,
    throwIfCanceled: (command) => {
      if (canceled) throw notStartedError(command, options.signal?.reason);
    },
    sent: () => sent,
    dispose: () => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (forward) {
        process.off('SIGINT', onProcessSignal);
        process.off('SIGTERM', onProcessSignal);
      }
    },
  };
}

/**
 * Spawns a runtime (runc, the launcher, unshare) with the caller's stdio, hands the child to
 * `started` (for cancellation), and waits for its exit and the end of its output.
 */
export async function spawnAndWait(
  file: string,
  args: readonly string[],
  stdio: RunStdio,
  tails: { stdout: Tail; stderr: Tail },
  started: (child: ChildProcess) => void,
  env?: NodeJS.ProcessEnv,
): Promise<Awaited<ReturnType<typeof waitForExit>>> {
  const child = childProcess().spawn(file, args, { stdio: spawnStdio(stdio), ...(env ? { env } : {}) });
  started(child);
  const exitPromise = waitForExit(child);
  const streams = connectStdio(child, stdio, tails);
  const exit = await exitPromise;
  await streams;
  return exit;
}

function waitForExit(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    child.once('error', (err) => {
      error = err;
      // 'close' may not follow a spawn failure.
      if (child.pid === undefined) resolve({ code: null, signal: null, error: err });
    });
    child.once('close', (code, signal) => resolve({ code, signal, ...(error ? { error } : {}) }));
  });
}

/**
 * Runs `spec` in a container rooted at `rootfs` and waits for it. Resolves with the exit
 * code; by default a non-zero exit, a process that cannot be started, or an abort throws a
 * RunStepError (exitCode, signal, command, stderrTail). No state is left behind: `runc run`
 * in the foreground removes the container when it ends, otherwise `runc delete --force` does.
 */
export async function runContainer(options: RunContainerOptions): Promise<RunResult> {
  const { runtime, bundleDir, rootfs, spec } = options;
  const command = quoteCommand(spec.process.args);
  if (!isAbsolute(rootfs)) throw new TypeError(`rootfs must be an absolute path: ${rootfs}`);
  if (options.signal?.aborted) {
    throw notStartedError(command, options.signal.reason);
  }
  if (spec.process.terminal && !hasControllingTerminal()) {
    throw new BuilderError('EPRECONDITION', 'the input device is not a TTY', {
      hint: 'run without a terminal (-t), or from an interactive terminal',
    });
  }
  const id = options.id ?? `${CONTAINER_ID_PREFIX}${randomHex(6)}`;
  if (!ID_PATTERN.test(id)) throw new TypeError(`invalid container id: ${JSON.stringify(id)}`);
  const stateRoot = options.stateRoot ?? DEFAULT_STATE_ROOT;
  const base = ['--root', stateRoot];
  const logPath = join(bundleDir, `${runtime.name}-${id}.log`);

  // Small files and directories: synchronous calls (a few µs each, where each awaited one is
  // a thread-pool round trip), as the step's other bookkeeping.
  mkdirSync(bundleDir, { recursive: true });
  mkdirSync(stateRoot, { recursive: true, mode: 0o700 });
  const config: RuntimeSpec = clampRlimits({ ...spec, root: { ...spec.root, path: rootfs } });
  writeFileSync(join(bundleDir, 'config.json'), JSON.stringify(config, null, 2));
  rmSync(logPath, { force: true });

  const stubs =
    options.cleanMountStubs === false
      ? undefined
      : await recordMountStubs(
          rootfs,
          spec.mounts.map((m) => m.destination),
        );

  const stdio = options.stdio ?? {};
  const tails = { stdout: new Tail(), stderr: new Tail() };
  let child: ChildProcess | undefined;
  let exited = false;
  const killContainer = (signal: NodeJS.Signals): void => {
    if (exited) return;
    void runQuiet(runtime.path, [...base, 'kill', id, signal]).then((r) => {
      // Not created yet: ask again shortly, until the runtime process is gone.
      if (r.code !== 0 && !exited) setTimeout(() => killContainer(signal), 100).unref();
    });
    // Last resort for a runtime that does not react: kill it; `delete --force` reaps the container.
    if (signal === 'SIGKILL' && child && child.exitCode === null) {
      setTimeout(() => {
        if (!exited) child?.kill('SIGKILL');
      }, options.killGraceMs ?? 5000).unref();
    }
  };
  const cancellation = watchCancellation(options, killContainer);

  let exit: Awaited<ReturnType<typeof waitForExit>> | undefined;
  try {
    cancellation.throwIfCanceled(command);
    exit = await spawnAndWait(
      runtime.path,
      [...base, '--log', logPath, '--log-format', 'json', 'run', '--bundle', bundleDir, id],
      stdio,
      tails,
      (c) => {
        child = c;
      },
    );
  } finally {
    exited = true;
    cancellation.dispose();
    // A runtime that ended on its own has removed its state (<root>/<id>); the delete is
    // another process, ~5 ms a RUN step. Anything else (an error, a cancel, a signal sent or
    // received, state still there) is deleted by force.
    const endedOnItsOwn =
      exit !== undefined &&
      exit.error === undefined &&
      exit.signal === null &&
      !cancellation.canceled() &&
      cancellation.sent() === undefined;
    if (!endedOnItsOwn || existsSync(join(stateRoot, id))) {
      await runQuiet(runtime.path, [...base, 'delete', '--force', id]);
    }
    if (stubs) await removeMountStubs(stubs);
  }

  const errors = await runtimeErrors(logPath);
  rmSync(logPath, { force: true });
  return {
    id,
    ...settleExit({ runtime: runtime.path, command, exit, cancellation, errors, tails, options }),
  };
}

/**
 * How a runtime's exit becomes a result or an error, for runc and the native launcher alike:
 * a runtime that could not be started, the exit code (128+N for a signal), the signal we sent,
 * the runtime's own errors (an executable that could not be run gets Docker's 127/126), a cancel.
 */
export function settleExit(run: {
  /** The runtime binary, for the error when it could not be started. */
  runtime: string;
  command: string;
  exit: { code: number | null; signal: NodeJS.Signals | null; error?: Error };
  cancellation: { canceled: () => boolean; sent: () => NodeJS.Signals | undefined };
  errors: string[];
  tails: { stdout: Tail; stderr: Tail };
  options: { signal?: AbortSignal; reject?: boolean; tailLines?: number };
}): Omit<RunResult, 'id'> {
  const { command, exit, cancellation, errors, tails, options } = run;
  if (exit.error) {
    throw new BuilderError('EPRECONDITION', `cannot start ${run.runtime}: ${exit.error.message}`, {
      cause: exit.error,
    });
  }
  const stderrTail = tails.stderr.text(options.tailLines);
  const stdoutTail = tails.stdout.text(options.tailLines);
  let exitCode = exitCodeOf(exit.code, exit.signal);
  let signal: NodeJS.Signals | undefined = exit.signal ?? undefined;
  const sent = cancellation.sent();
  if (signal === undefined && sent !== undefined && exitCode === 128 + signalNumber(sent)) signal = sent;

  if (cancellation.canceled())
    throw canceledStepError({ command, stderrTail, exitCode, signal, cause: options.signal?.reason });
  if (exitCode !== 0 && errors.length > 0) {
    const runtimeMessage = errors.join('; ');
    const execCode = execFailureCode(runtimeMessage);
    if (execCode !== undefined) exitCode = execCode;
    if (options.reject !== false || execCode === undefined) {
      throw new RunStepError({
        command,
        stderrTail,
        runtimeMessage,
        ...(execCode !== undefined ? { exitCode } : { code: 'EPRECONDITION' }),
      });
    }
  }
  if (exitCode !== 0 && options.reject !== false) {
    throw new RunStepError({ command, stderrTail, exitCode, ...(signal ? { signal } : {}) });
  }
  const result: Omit<RunResult, 'id'> = { exitCode, command, stdoutTail, stderrTail };
  if (signal) result.signal = signal;
  return result;
}

/**
 * Crash recovery: deletes (force) every container under `stateRoot` whose id starts with
 * CONTAINER_ID_PREFIX, e.g. left by a killed build. Returns the ids deleted.
 */
export async function cleanupStaleContainers(
  runtime: RuntimeInfo,
  stateRoot = DEFAULT_STATE_ROOT,
): Promise<string[]> {
  const list = await runQuiet(runtime.path, ['--root', stateRoot, 'list', '--format', 'json']);
  if (list.code !== 0) return [];
  let entries: Array<{ id?: string }>;
  try {
    entries = (JSON.parse(list.stdout || '[]') as Array<{ id?: string }> | null) ?? [];
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries) {
    if (typeof entry.id !== 'string' || !entry.id.startsWith(CONTAINER_ID_PREFIX)) continue;
    const r = await runQuiet(runtime.path, ['--root', stateRoot, 'delete', '--force', entry.id]);
    if (r.code === 0) removed.push(entry.id);
  }
  return removed;
}

/** The ids of containers the runtime knows under `stateRoot`. */
export async function listContainers(
  runtime: RuntimeInfo,
  stateRoot = DEFAULT_STATE_ROOT,
): Promise<string[]> {
  const list = await runQuiet(runtime.path, ['--root', stateRoot, 'list', '--format', 'json']);
  if (list.code !== 0) return [];
  try {
    const entries = (JSON.parse(list.stdout || '[]') as Array<{ id?: string }> | null) ?? [];
    return entries.map((e) => e.id).filter((id): id is string => typeof id === 'string');
  } catch {
    return [];
  }
}
