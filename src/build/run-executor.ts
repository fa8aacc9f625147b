// RUN steps executed for real, over the mounted rootfs: Strata's native launcher where it
// works (probed; the same spec as for runc, ~3 ms a container), else an OCI runtime (runc/crun,
// probed), else chroot isolation (namespaces + chroot). One process per step.

import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BuilderError } from '../errors.js';
import { resolveOwner } from '../rootfs/users.js';
import { runChroot } from '../runtime/chroot.js';
import { unsupportedReason } from '../runtime/launch-plan.js';
import { type NativeRuntime, probeNativeRuntime, runNative } from '../runtime/native-runtime.js';
import { probeRuntime, type RuntimeInfo } from '../runtime/probe.js';
import { runContainer } from '../runtime/run-container.js';
import { secureJoin } from '../runtime/secure-join.js';
import { type BindMount, generateSpec, type OciMount } from '../runtime/spec.js';
import { randomHex } from '../sys/index.js';
import type { RunExecutor, RunRequest } from './steps/run.js';

export type Isolation = 'default' | 'native' | 'runc' | 'chroot';

export const ISOLATIONS: readonly Isolation[] = ['default', 'native', 'runc', 'chroot'];

/** `--isolation`'s value, checked. */
export function parseIsolation(value: string | undefined): Isolation {
  if (value === undefined) return 'default';
  if ((ISOLATIONS as readonly string[]).includes(value)) return value as Isolation;
  throw new BuilderError('EINVAL', `unknown isolation ${JSON.stringify(value)}`, {
    hint: `use one of: ${ISOLATIONS.join(', ')}`,
  });
}

function hostFileBinds(): BindMount[] {
  const out: BindMount[] = [];
  for (const file of ['/etc/resolv.conf', '/etc/hosts']) {
    if (statSync(file, { throwIfNoEntry: false })?.isFile() === true)
      out.push({ source: file, destination: file, readonly: true });
  }
  return out;
}

async function prepare(request: RunRequest) {
  const user = request.user === '' ? { uid: 0, gid: 0 } : await resolveOwner(request.rootfs, request.user);
  // The working directory exists before the process starts, as BuildKit makes sure.
  const cwd = await secureJoin(request.rootfs, request.workdir);
  await mkdir(cwd, { recursive: true });
  const binds: BindMount[] = hostFileBinds();
  const mounts: OciMount[] = [];
  for (const m of request.mounts) {
    if (m.type === 'tmpfs') {
      mounts.push({
        destination: m.target,
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', ...(m.options ?? [])],
      });
    } else {
      binds.push({ source: m.source as string, destination: m.target, readonly: m.readonly });
    }
  }
  const spec = generateSpec({
    args: request.args,
    env: request.env,
    cwd: request.workdir,
    user,
    hostname: request.hostname,
    network: request.network === 'none' ? 'none' : 'host',
    binds,
    mounts,
    ...(request.security === 'insecure' ? { capabilities: ['CAP_SYS_ADMIN'] } : {}),
  });
  return spec;
}

/** A step's output goes to the build's progress; the build, not the runtime, handles Ctrl-C. */
function stepIo(request: RunRequest) {
  return {
    stdio: {
      stdout: (chunk: Buffer) => request.onOutput('stdout', chunk),
      stderr: (chunk: Buffer) => request.onOutput('stderr', chunk),
    },
    ...(request.signal ? { signal: request.signal } : {}),
    forwardSignals: false,
  };
}

export class RuntimeExecutor implements RunExecutor {
  readonly name: string;
  constructor(
    private readonly runtime: RuntimeInfo,
    private readonly tmpDir: string,
  ) {
    this.name = runtime.name;
  }

  async run(request: RunRequest): Promise<void> {
    const spec = await prepare(request);
    mkdirSync(this.tmpDir, { recursive: true });
    const bundleDir = mkdtempSync(join(this.tmpDir, 'bundle-'));
    try {
      await runContainer({
        runtime: this.runtime,
        bundleDir,
        rootfs: request.rootfs,
        spec,
        id: `strata-build-${randomHex(6)}`,
        ...stepIo(request),
      });
    } finally {
      rmSync(bundleDir, { recursive: true, force: true });
    }
  }
}

/** The native launcher; a spec it does not carry out (none a build makes today) goes to runc. */
export class NativeExecutor implements RunExecutor {
  readonly name = 'native';
  private fallback: Promise<RunExecutor> | undefined;
  constructor(
    private readonly runtime: NativeRuntime,
    private readonly tmpDir: string,
  ) {}

  async run(request: RunRequest): Promise<void> {
    const spec = await prepare(request);
    if (unsupportedReason(spec) !== undefined) {
      this.fallback ??= chooseExecutor('runc', this.tmpDir, () => {});
      return (await this.fallback).run(request);
    }
    await runNative({
      runtime: this.runtime,
      rootfs: request.rootfs,
      spec,
      logDir: this.tmpDir,
      ...stepIo(request),
    });
  }
}

export class ChrootExecutor implements RunExecutor {
  readonly name = 'chroot';
  async run(request: RunRequest): Promise<void> {
    const spec = await prepare(request);
    await runChroot({
      rootfs: request.rootfs,
      spec,
      ...stepIo(request),
    });
  }
}

/**
 * Picks the executor: the native launcher, else a working OCI runtime, else chroot isolation
 * (reported through `warn`).
 */
export async function chooseExecutor(
  isolation: Isolation,
  tmpDir: string,
  warn: (m: string) => void,
): Promise<RunExecutor> {
  if (isolation === 'chroot') return new ChrootExecutor();
  if (isolation === 'default' || isolation === 'native') {
    const native = await probeNativeRuntime();
    if (native.ok) return new NativeExecutor(native, tmpDir);
    if (isolation === 'native') {
      throw new BuilderError('EPRECONDITION', `the native launcher does not work here: ${native.reason}`, {
        hint: 'build it with `npm run build:native`, or use --isolation runc',
      });
    }
    // Quietly: runc is what other builders use; `--isolation native` says why not.
  }
  const probe = await probeRuntime();
  if (probe.ok) return new RuntimeExecutor(probe, tmpDir);
  if (isolation === 'runc') {
    throw new BuilderError('EPRECONDITION', `no working OCI runtime: ${probe.reason}`, {
      hint: 'Install runc (apt-get install runc), or use --isolation chroot.',
    });
  }
  warn(`no working OCI runtime (${probe.reason.split('\n')[0]}); RUN steps use chroot isolation`);
  return new ChrootExecutor();
}
