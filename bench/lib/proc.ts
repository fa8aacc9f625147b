// Processes for the benchmark: a timed CLI call (wall clock around the whole command, peak RSS
// from /usr/bin/time), untimed helpers, and a registry of everything started so that a failure or
// Ctrl-C still stops daemons and unmounts what the tools left behind.

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface Cmd {
  file: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface Timed {
  ok: boolean;
  /** Wall clock around the whole CLI call, milliseconds. */
  ms: number;
  /** Peak resident set of the largest process in the tree (/usr/bin/time %M), KiB. */
  rssKb?: number;
  code: number | null;
  /** The end of stderr+stdout, for error reports. */
  tail: string;
}

const TIME = '/usr/bin/time';
export const haveTime = existsSync(TIME);

const running = new Set<ChildProcess>();
let stopped = false;

/** After Ctrl-C: no new command starts (runCmd and capture fail at once), and in-flight ones are killed. */
export function stopSpawning(): void {
  stopped = true;
  killRunning();
}

/** Kills the processes of an in-flight command (its process group). */
export function killRunning(): void {
  for (const child of running) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }
  }
}

function describe(cmd: Cmd): string {
  return [cmd.file, ...cmd.args].join(' ');
}

/**
 * Runs `cmd` to completion, its output into `log` (appended). Never throws for a failing
 * command: the result says so. `timeoutMs` kills it (and counts as a failure).
 */
export async function runCmd(
  cmd: Cmd,
  options: { log?: string; timeoutMs?: number; measureRss?: boolean; input?: string } = {},
): Promise<Timed> {
  if (stopped) return { ok: false, ms: 0, code: null, tail: 'interrupted' };
  const rssFile = options.measureRss && haveTime ? `${options.log ?? '/tmp/strata-bench'}.rss` : undefined;
  const file = rssFile ? TIME : cmd.file;
  const args = rssFile ? ['-f', '%M', '-o', rssFile, cmd.file, ...cmd.args] : cmd.args;
  const out = options.log ? createWriteStream(options.log, { flags: 'a' }) : undefined;
  out?.write(`\n$ ${describe(cmd)}\n`);
  let tail = '';
  const keep = (chunk: Buffer) => {
    out?.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  const start = process.hrtime.bigint();
  const child = spawn(file, args, {
    env: cmd.env ?? process.env,
    cwd: cmd.cwd,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true, // its own process group, so Ctrl-C handling can kill the whole tree
  });
  running.add(child);
  if (options.input !== undefined) child.stdin?.end(options.input);
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let timedOut = false;
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        }, options.timeoutMs);
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', (err) => {
      keep(Buffer.from(`${String(err)}\n`));
      resolve(127);
    });
    child.on('close', (c) => resolve(c));
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (timer) clearTimeout(timer);
  running.delete(child);
  await new Promise<void>((resolve) => (out ? out.end(resolve) : resolve()));
  let rssKb: number | undefined;
  if (rssFile) {
    const text = await readFile(rssFile, 'utf8').catch(() => '');
    // time writes "Command exited with non-zero status N" before the value on failure.
    const last = text.trim().split('\n').pop() ?? '';
    if (/^\d+$/.test(last)) rssKb = Number(last);
    await rm(rssFile, { force: true });
  }
  if (timedOut) tail += `\n(killed after ${options.timeoutMs} ms)`;
  return { ok: code === 0 && !timedOut, ms, code, tail, ...(rssKb === undefined ? {} : { rssKb }) };
}

/** An untimed step: throws with the command's output when it fails. */
export async function must(cmd: Cmd, options: { log?: string; timeoutMs?: number; input?: string } = {}) {
  const r = await runCmd(cmd, options);
  if (!r.ok) throw new Error(`${describe(cmd)} failed (exit ${r.code}):\n${lastLines(r.tail, 15)}`);
  return r;
}

/** stdout of a quick command ('' when it fails). */
export async function capture(cmd: Cmd, timeoutMs = 30_000): Promise<{ ok: boolean; text: string }> {
  if (stopped && cmd.file !== 'umount') return { ok: false, text: 'interrupted' };
  const child = spawn(cmd.file, cmd.args, { env: cmd.env ?? process.env, cwd: cmd.cwd, stdio: 'pipe' });
  let text = '';
  child.stdout.on('data', (c: Buffer) => {
    text += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    text += c.toString('utf8');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', resolve);
  });
  clearTimeout(timer);
  return { ok: code === 0, text };
}

export function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/** One line for a table cell: the most telling line of an error. */
export function errorLine(text: string): string {
  const lines = text
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const telling = [...lines]
    .reverse()
    .find((l) => /error|failed|not |unknown|denied|cannot|no such/i.test(l));
  return (telling ?? lines.pop() ?? 'failed').slice(0, 160).replaceAll('|', '\\|');
}

// --- cleanup --------------------------------------------------------------------------------

type CleanupFn = () => Promise<void>;
const cleanups: { name: string; fn: CleanupFn }[] = [];

/** Registers a cleanup; they run newest first, once, at the end or on a signal. */
export function atCleanup(name: string, fn: CleanupFn): () => void {
  const entry = { name, fn };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

let cleaning: Promise<void> | undefined;

/** Runs the cleanups; a second caller (the signal handler and main's end) waits for the same run. */
export function runCleanups(): Promise<void> {
  cleaning ??= drainCleanups();
  return cleaning;
}

async function drainCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const { name, fn } = cleanups.pop() as { name: string; fn: CleanupFn };
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`bench: cleanup "${name}" failed: ${String(err)}\n`);
    }
  }
}

/** Mount points at or below `dir`, deepest first (tools can leave overlay mounts behind). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const unescapeOctal = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .map((l) => unescapeOctal(l.split(' ')[4] ?? ''))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts anything below `dir`, then removes it. */
export async function removeTree(dir: string): Promise<void> {
  for (const m of await mountsUnder(dir)) {
    await capture({ file: 'umount', args: ['-l', m] });
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a daemon we started: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopPid(pid: number, graceMs = 15_000): Promise<void> {
  if (!pidAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < until) await sleep(100);
  if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export const joinPath = join;
