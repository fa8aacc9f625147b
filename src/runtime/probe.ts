// Finding an OCI runtime that really works here. Being on PATH is not enough: Debian 12's
// crun refuses hybrid cgroup hosts ("cgroups in hybrid mode not supported"), and a runtime
// may lack permissions. So each candidate must answer --version and then run a tiny
// container built from the host's own /usr (no image needed). The answer is cached per
// process (the probe costs one container start, ~50-100 ms).

import { accessSync, constants, existsSync, lstatSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { randomHex } from '../sys/index.js';
import { childProcess } from '../sys/lazy-builtins.js';
import { clampRlimits } from './host-limits.js';
import { recall, remember } from './probe-memo.js';
import { generateSpec, type OciMount } from './spec.js';

export interface RuntimeInfo {
  /** 'runc' or 'crun'. */
  name: string;
  /** Absolute path of the binary. */
  path: string;
  /** e.g. '1.1.5+ds1'. */
  version: string;
}

export type RuntimeProbe =
  | ({ ok: true } & RuntimeInfo)
  | {
      ok: false;
      /** One line per candidate tried, saying why it was rejected. */
      reason: string;
    };

export interface ProbeRuntimeOptions {
  /** Runtime names in order of preference; default ['runc', 'crun']. */
  candidates?: readonly string[];
  /** Where runtime state goes for the probe container; default a temp dir. */
  stateRoot?: string;
}

const SBIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of `name` on PATH (plus the sbin dirs, often missing from a user's PATH). */
export function findExecutable(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...SBIN_DIRS];
  for (const dir of dirs) {
    const path = join(dir, name);
    if (isExecutable(path)) return path;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return lstatSync(path).isFile() || lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function run(
  file: string,
  args: string[],
  timeoutMs = 15_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    childProcess().execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({
          code,
          stdout: String(stdout),
          stderr: String(stderr || (err && !stdout ? err.message : '')),
        });
      },
    );
  });
}

/** "runc version 1.1.5+ds1\ncommit: …" → "1.1.5+ds1". */
export function parseVersion(output: string): string | undefined {
  return /version\s+(\S+)/i.exec(output)?.[1];
}

/**
 * A rootfs made of the host's own /usr, bound read-only, with the merged-/usr symlinks
 * (bin → usr/bin…) recreated; returns the mounts the spec needs and a command to run.
 */
export async function hostRootfs(dir: string): Promise<{ mounts: OciMount[]; args: string[] }> {
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs);
  const mounts: OciMount[] = [];
  for (const top of ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const host = `/${top}`;
    if (!existsSync(host)) continue;
    const st = lstatSync(host);
    if (st.isSymbolicLink()) {
      await symlink(readlinkSync(host), join(rootfs, top));
    } else if (st.isDirectory()) {
      await mkdir(join(rootfs, top));
      mounts.push({
        destination: host,
        type: 'bind',
        source: host,
        options: ['rbind', 'ro', 'nosuid', 'nodev'],
      });
    }
  }
  const truePath = ['/usr/bin/true', '/bin/true'].find((p) => existsSync(p));
  if (!truePath) throw new Error('no /usr/bin/true on the host to run in a probe container');
  return { mounts, args: [truePath] };
}

async function tryContainer(
  runtime: RuntimeInfo,
  stateRoot: string | undefined,
): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-runtime-probe-'));
  const id = `strata-probe-${randomHex(4)}`;
  const state = stateRoot ?? join(dir, 'state');
  const base = ['--root', state];
  try {
    const { mounts, args } = await hostRootfs(dir);
    const spec = generateSpec({ args, mounts, rootfs: join(dir, 'rootfs'), network: 'host' });
    await writeFile(join(dir, 'config.json'), JSON.stringify(clampRlimits(spec)));
    const result = await run(runtime.path, [...base, 'run', '--bundle', dir, id], 30_000);
    if (result.code !== 0) {
      const message = result.stderr.trim().split('\n').slice(-3).join(' / ') || `exit code ${result.code}`;
      return `a test container failed: ${message}`;
    }
    return undefined;
  } finally {
    await run(runtime.path, [...base, 'delete', '--force', id]).catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

/** Only the default probe is remembered (probe-memo.ts). */
const PROBE_MEMO = '/run/strata/runtime-probe.json';

async function probe(options: ProbeRuntimeOptions): Promise<RuntimeProbe> {
  const remembered =
    options.candidates === undefined && options.stateRoot === undefined
      ? await recall<RuntimeInfo>(PROBE_MEMO, (info) => findExecutable(info.name) === info.path)
      : undefined;
  if (remembered && (typeof process.getuid !== 'function' || process.getuid() === 0))
    return { ok: true, ...remembered };
  const result = await probeForReal(options);
  if (result.ok && options.candidates === undefined && options.stateRoot === undefined) {
    await remember(PROBE_MEMO, { name: result.name, path: result.path, version: result.version }).catch(
      () => {},
    );
  }
  return result;
}

async function probeForReal(options: ProbeRuntimeOptions): Promise<RuntimeProbe> {
  if (process.platform !== 'linux')
    return { ok: false, reason: `containers need Linux (this is ${process.platform})` };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return {
      ok: false,
      reason: `running containers needs root (uid ${process.getuid()}); rootless mode is not supported`,
    };
  }
  const reasons: string[] = [];
  for (const name of options.candidates ?? ['runc', 'crun']) {
    const path = findExecutable(name);
    if (!path) {
      reasons.push(`${name}: not found on PATH`);
      continue;
    }
    const versionRun = await run(path, ['--version']);
    const version = parseVersion(versionRun.stdout);
    if (versionRun.code !== 0 || version === undefined) {
      reasons.push(
        `${name} (${path}): --version failed: ${versionRun.stderr.trim() || `exit ${versionRun.code}`}`,
      );
      continue;
    }
    const info: RuntimeInfo = { name, path, version };
    const failure = await tryContainer(info, options.stateRoot).catch((err: Error) => err.message);
    if (failure !== undefined) {
      reasons.push(`${name} ${version} (${path}): ${failure}`);
      continue;
    }
    return { ok: true, ...info };
  }
  return { ok: false, reason: reasons.join('; ') };
}

const cache = new Map<string, Promise<RuntimeProbe>>();

/** The first runtime that runs a container here, or why none does. Cached per process. */
export function probeRuntime(options: ProbeRuntimeOptions = {}): Promise<RuntimeProbe> {
  const key = JSON.stringify([options.candidates ?? null, options.stateRoot ?? null]);
  let result = cache.get(key);
  if (!result) {
    result = probe(options);
    cache.set(key, result);
  }
  return result;
}
