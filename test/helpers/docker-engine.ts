// A private Docker engine for differential tests: Debian's dockerd started on a unix socket in a
// temp dir (its own data root, exec root, pidfile and daemon.json; no iptables, no bridge), the
// docker CLI pointed at it with BuildKit on, and everything stopped and unmounted afterwards.
// Nothing of the host's docker (a system daemon, ~/.docker, /etc/docker/daemon.json) is used;
// only a system containerd, if one runs at /run/containerd, would be shared (dockerd 20.10 uses
// it instead of starting its own), which builds do not touch: BuildKit runs RUN with runc.
//
// One engine per test file: `useDockerEngine()` starts it in `before` and stops it in `after`.
// When docker is not installed or the engine does not come up, every test that asks skips
// loudly with the reason (console.warn + t.skip), never silently.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, type TestContext } from 'node:test';
import { findExecutable } from '../../src/runtime/index.js';
import { sysAvailable, unmountTree } from '../../src/sys/index.js';
import { skipIf } from '../integration/prereqs.js';

export interface DockerResult {
  stdout: Buffer;
  stderr: string;
}

export interface DockerOptions {
  cwd?: string;
  input?: string | Buffer;
  /** Milliseconds (default 180 s). */
  timeout?: number;
}

export interface DockerEngine {
  /** The docker CLI in use (Debian's /usr/bin/docker beside dockerd, else the first on PATH). */
  readonly client: string;
  readonly clientVersion: string;
  readonly serverVersion: string;
  /** The temp dir holding the data root, exec root, socket and log. */
  readonly root: string;
  /** Runs the CLI against this engine (DOCKER_HOST set, DOCKER_BUILDKIT=1); rejects on a non-zero exit. */
  docker(args: readonly string[], options?: DockerOptions): Promise<DockerResult>;
  stop(): Promise<void>;
}

export class DockerCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(
      `docker ${args.join(' ')} exited with ${code}:\n${stderr.trim().split('\n').slice(-15).join('\n')}`,
    );
  }
}

function run(
  file: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: DockerOptions = {},
): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeout ?? 180_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve({ stdout, stderr });
      else reject(new DockerCommandError(args, code, stdout.toString('utf8'), stderr));
    });
    child.stdin.end(options.input ?? '');
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The client: Debian's beside dockerd (a newer CLI on PATH may need the absent buildx plugin). */
function findClient(dockerd: string): string | undefined {
  const sibling = join(dirname(dirname(dockerd)), 'bin', 'docker');
  return existsSync(sibling) ? sibling : findExecutable('docker');
}

/** Starts a private engine, or returns why it cannot. */
export async function startDockerEngine(): Promise<DockerEngine | string> {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root: dockerd needs root';
  const dockerd = findExecutable('dockerd');
  if (!dockerd) return 'dockerd not found (apt-get install docker.io; scripts/install-deps.sh does)';
  const client = findClient(dockerd);
  if (!client) return 'the docker CLI was not found (apt-get install docker.io)';

  const root = await mkdtemp(join(tmpdir(), 'strata-dockerd-'));
  const socket = join(root, 'docker.sock');
  const cliConfig = join(root, 'cli-config');
  await mkdir(cliConfig);
  await writeFile(join(root, 'daemon.json'), '{}\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKER_HOST: `unix://${socket}`,
    DOCKER_BUILDKIT: '1',
    DOCKER_CONFIG: cliConfig,
    DOCKER_CLI_HINTS: 'false',
    BUILDKIT_PROGRESS: 'plain',
  };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  delete env.DOCKER_CERT_PATH;

  const log = await open(join(root, 'dockerd.log'), 'w');
  const child = spawn(
    dockerd,
    [
      '--data-root',
      join(root, 'data'),
      '--exec-root',
      join(root, 'exec'),
      '--pidfile',
      join(root, 'dockerd.pid'),
      '--config-file',
      join(root, 'daemon.json'),
      '-H',
      `unix://${socket}`,
      '--iptables=false',
      '--ip-masq=false',
      '--bridge=none',
      '--log-level=warn',
    ],
    // Its own process group, so that nothing of it outlives the test when it has to be killed.
    { detached: true, stdio: ['ignore', log.fd, log.fd] },
  );
  await log.close();
  let failure: string | undefined;
  child.on('error', (e) => {
    failure = `dockerd could not be started: ${e.message}`;
  });
  const killOnExit = () => {
    if (child.pid !== undefined && alive(child.pid)) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);

  const logTail = async () =>
    (await readFile(join(root, 'dockerd.log'), 'utf8').catch(() => ''))
      .trim()
      .split('\n')
      .slice(-8)
      .join('\n');

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    const pid = child.pid;
    if (pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const done = await Promise.race([exited(child).then(() => true), sleep(20_000).then(() => false)]);
      if (!done) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
        await exited(child);
      }
    }
    // The containerd dockerd started for itself stops with it; make sure of it.
    const containerdPid = Number(
      await readFile(join(root, 'exec', 'containerd', 'containerd.pid'), 'utf8').catch(() => ''),
    );
    if (containerdPid > 0 && alive(containerdPid)) {
      process.kill(containerdPid, 'SIGTERM');
      for (let i = 0; i < 50 && alive(containerdPid); i++) await sleep(100);
      if (alive(containerdPid)) process.kill(containerdPid, 'SIGKILL');
    }
    if (sysAvailable()) unmountTree(root);
    await rm(root, { recursive: true, force: true });
  };

  const docker = (args: readonly string[], options?: DockerOptions) => run(client, args, env, options);

  // Wait until the engine answers (it takes a few seconds to start containerd).
  const deadline = Date.now() + 60_000;
  let serverVersion = '';
  let lastError = '';
  while (Date.now() < deadline) {
    if (failure) break;
    if (child.exitCode !== null || child.signalCode !== null) {
      failure = `dockerd exited (${child.exitCode ?? child.signalCode}):\n${await logTail()}`;
      break;
    }
    try {
      serverVersion = (
        await docker(['version', '--format', '{{.Server.Version}}'], { timeout: 10_000 })
      ).stdout
        .toString()
        .trim();
      break;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
      await sleep(250);
    }
  }
  if (!failure && serverVersion === '')
    failure = `dockerd did not answer in 60 s: ${lastError}\n${await logTail()}`;
  if (failure) {
    await stop();
    return failure;
  }
  const clientVersion = (await docker(['version', '--format', '{{.Client.Version}}'])).stdout
    .toString()
    .trim();

  // BuildKit must work through this client (a docker ≥ 23 CLI without buildx refuses).
  const probe = join(root, 'probe');
  await mkdir(probe);
  await writeFile(join(probe, 'Dockerfile'), 'FROM scratch\nLABEL probe=1\n');
  try {
    const r = await docker(['build', '--network', 'host', '-q', probe], { timeout: 60_000 });
    if (!/^sha256:/.test(r.stdout.toString().trim())) throw new Error(`unexpected output ${r.stdout}`);
  } catch (e) {
    await stop();
    return `docker ${clientVersion} cannot build with BuildKit against engine ${serverVersion}: ${e instanceof Error ? e.message : e}`;
  }
  await rm(probe, { recursive: true, force: true });

  return { client, clientVersion, serverVersion, root, docker, stop };
}

export interface EngineHandle {
  /** The engine, once `before` has run and it started. */
  readonly engine: DockerEngine | undefined;
  /** Why there is no engine, once `before` has run. */
  readonly reason: string | undefined;
  /** Skips `t` loudly when there is no engine; true when skipped. */
  skip(t: TestContext): boolean;
}

/**
 * Registers `before`/`after` hooks (in the current suite) that start one private engine and
 * stop it. Call it once per test file.
 */
export function useDockerEngine(): EngineHandle {
  let engine: DockerEngine | undefined;
  let reason: string | undefined;
  before(
    async () => {
      const started = await startDockerEngine();
      if (typeof started === 'string') {
        reason = started;
        console.warn(`differential tests: no Docker engine: ${reason}`);
      } else {
        engine = started;
      }
    },
    { timeout: 120_000 },
  );
  after(async () => engine?.stop(), { timeout: 60_000 });
  return {
    get engine() {
      return engine;
    },
    get reason() {
      return reason;
    },
    skip(t) {
      if (engine) return false;
      skipIf(t, reason ?? 'the Docker engine was not started');
      return true;
    },
  };
}
