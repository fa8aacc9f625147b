// Runs an image as docker run does: a writable snapshot over the image's layers, the image's
// entrypoint and cmd (or overrides), its env, user and workdir, in an OCI runtime (or chroot).
// The process's exit code is the result.

import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../digest/digest.js';
import { BuilderError } from '../errors.js';
import type { ImageConfig } from '../oci/types.js';
import { type LayerRef, RootfsManager } from '../rootfs/rootfs-manager.js';
import { resolveOwner } from '../rootfs/users.js';
import { runChroot } from '../runtime/chroot.js';
import { probeRuntime } from '../runtime/probe.js';
import { runContainer } from '../runtime/run-container.js';
import { secureJoin } from '../runtime/secure-join.js';
import { type BindMount, generateSpec } from '../runtime/spec.js';
import { withMounted } from '../snapshot/mount.js';
import { probeSnapshotter } from '../snapshot/probe.js';
import type { StoredImage } from '../store/image-store.js';
import type { Store } from '../store/store.js';
import { type ContainerRecord, ContainerRecords } from './container-records.js';

export interface RunImageOptions {
  store: Store;
  image: StoredImage;
  record: ContainerRecord;
  /** Replaces the image's CMD (docker run IMAGE ARGS…). */
  command?: string[];
  /** Replaces the image's ENTRYPOINT (and drops its CMD, as docker does). */
  entrypoint?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  volumes?: string[];
  network?: 'host' | 'none';
  tty?: boolean;
  interactive?: boolean;
  isolation?: 'default' | 'runc' | 'chroot';
  /** Where output goes: the terminal (foreground) or the container's log (detached). */
  output: 'inherit' | 'log';
  stdin?: Readable;
  signal?: AbortSignal;
}

/** Docker's rule: ENTRYPOINT + CMD, where `--entrypoint` drops the image's CMD. */
export function processArgs(
  config: ImageConfig,
  command: string[] | undefined,
  entrypoint: string | undefined,
): string[] {
  const cfg = config.config ?? {};
  const ep = entrypoint !== undefined ? (entrypoint === '' ? [] : [entrypoint]) : (cfg.Entrypoint ?? []);
  const cmd = command && command.length > 0 ? command : entrypoint !== undefined ? [] : (cfg.Cmd ?? []);
  const args = [...ep, ...cmd];
  if (args.length === 0) {
    throw new BuilderError('EINVAL', 'No command specified', {
      hint: 'The image has no ENTRYPOINT or CMD: give a command after the image name.',
    });
  }
  return args;
}

function parseVolume(spec: string): BindMount {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) {
    throw new BuilderError('EINVAL', `invalid volume specification: '${spec}'`, {
      hint: 'Write it as -v HOST_PATH:CONTAINER_PATH[:ro].',
    });
  }
  const mode = parts[2];
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw')
    throw new BuilderError('EINVAL', `invalid mode: ${mode}`);
  if (!parts[1].startsWith('/'))
    throw new BuilderError(
      'EINVAL',
      `invalid volume specification: '${spec}': the container path must be absolute`,
    );
  return { source: resolve(parts[0]), destination: parts[1], readonly: mode === 'ro' };
}

function layersOf(image: StoredImage): LayerRef[] {
  const diffIds = image.config.rootfs.diff_ids;
  return image.manifest.layers.map((descriptor, i) => ({
    descriptor,
    diffId: diffIds[i] as Digest,
    uncompressedSize: 0,
  }));
}

/** Runs the container to its end; returns the exit code. */
export async function runImage(o: RunImageOptions): Promise<number> {
  const { store, image, record } = o;
  const records = new ContainerRecords(store.root);
  const id = record.config.id;
  const choice = await probeSnapshotter(store.snapshotsDir);
  const rootfsManager = new RootfsManager({
    content: store.content,
    snapshotter: choice.snapshotter,
    mountDir: join(store.root, 'mounts'),
    writeLayer: async () => {
      throw new BuilderError('EINTERNAL', 'a container does not write layers');
    },
  });
  const parents = await rootfsManager.ensureChain(layersOf(image), o.signal);
  const key = `container/${id}`;
  const mounts = await choice.snapshotter.prepare(key, parents);
  const target = join(record.dir, 'rootfs');
  await mkdir(target, { recursive: true });
  const cfg = image.config.config ?? {};
  const args = processArgs(image.config, o.command, o.entrypoint);
  let log: Writable | undefined;
  try {
    return await withMounted(mounts, target, async (rootfs) => {
      const userSpec = o.user ?? cfg.User ?? '';
      const user = userSpec === '' ? { uid: 0, gid: 0 } : await resolveOwner(rootfs, userSpec);
      const cwd = o.workdir ?? (cfg.WorkingDir || '/');
      await mkdir(await secureJoin(rootfs, cwd), { recursive: true });
      const binds: BindMount[] = [];
      for (const file of ['/etc/resolv.conf', '/etc/hosts']) {
        if (
          await stat(file).then(
            (s) => s.isFile(),
            () => false,
          )
        )
          binds.push({ source: file, destination: file, readonly: true });
      }
      for (const v of o.volumes ?? []) binds.push(parseVolume(v));
      const env = [...(cfg.Env ?? [])];
      for (const e of o.env ?? []) {
        const k = e.includes('=') ? e.slice(0, e.indexOf('=')) : e;
        const value = e.includes('=')
          ? e
          : process.env[k] === undefined
            ? undefined
            : `${k}=${process.env[k]}`;
        if (value === undefined) continue;
        const i = env.findIndex((x) => x.startsWith(`${k}=`));
        if (i === -1) env.push(value);
        else env[i] = value;
      }
      const spec = generateSpec({
        args,
        env,
        cwd,
        user,
        hostname: id.slice(0, 12),
        terminal: o.tty === true,
        network: o.network ?? 'host',
        binds,
      });
      let stdout: 'inherit' | ((chunk: Buffer) => void) = 'inherit';
      let stderr: 'inherit' | ((chunk: Buffer) => void) = 'inherit';
      if (o.output === 'log') {
        log = createWriteStream(join(record.dir, 'log.jsonl'), { flags: 'a' });
        const line = (stream: 'stdout' | 'stderr') => (chunk: Buffer) =>
          log?.write(
            `${JSON.stringify({ log: chunk.toString('utf8'), stream, time: new Date().toISOString() })}\n`,
          );
        stdout = line('stdout');
        stderr = line('stderr');
      }
      const stdin = o.interactive ? (o.stdin ?? 'inherit') : 'ignore';
      await records.writeState(id, {
        status: 'running',
        pid: process.pid,
        startedAt: new Date().toISOString(),
      });
      let exitCode: number;
      const runtime = o.isolation === 'chroot' ? undefined : await probeRuntime();
      if (runtime?.ok) {
        const bundleDir = join(record.dir, 'bundle');
        const result = await runContainer({
          runtime,
          bundleDir,
          rootfs,
          spec,
          id: `strata-${id.slice(0, 12)}`,
          stdio: { stdin: stdin as never, stdout, stderr },
          ...(o.signal ? { signal: o.signal } : {}),
          reject: false,
        });
        exitCode = result.exitCode;
        await rm(bundleDir, { recursive: true, force: true });
      } else {
        if (o.isolation === 'runc') {
          throw new BuilderError(
            'EPRECONDITION',
            `no working OCI runtime: ${runtime && !runtime.ok ? runtime.reason : ''}`,
          );
        }
        const result = await runChroot({
          rootfs,
          spec,
          stdio: { stdin: stdin as never, stdout, stderr },
          ...(o.signal ? { signal: o.signal } : {}),
          reject: false,
        });
        exitCode = result.exitCode;
      }
      await records.writeState(id, {
        status: 'exited',
        exitCode,
        finishedAt: new Date().toISOString(),
      });
      return exitCode;
    });
  } catch (err) {
    await records
      .writeState(id, {
        status: 'exited',
        exitCode: 125,
        error: (err as Error).message,
        finishedAt: new Date().toISOString(),
      })
      .catch(() => {});
    throw err;
  } finally {
    if (log) await new Promise<void>((done) => log?.end(done));
    if (record.config.autoRemove) {
      await choice.snapshotter.remove(key).catch(() => {});
      await records.remove(id);
    }
  }
}

/** Removes a stopped container's writable layer and its record. */
export async function removeContainer(store: Store, record: ContainerRecord): Promise<void> {
  const choice = await probeSnapshotter(store.snapshotsDir);
  await choice.snapshotter.remove(`container/${record.config.id}`).catch(() => {});
  await new ContainerRecords(store.root).remove(record.config.id);
}

export async function readLogLines(
  record: ContainerRecord,
): Promise<{ stream: 'stdout' | 'stderr'; log: string }[]> {
  const text = await readFile(join(record.dir, 'log.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { stream: 'stdout' | 'stderr'; log: string }];
      } catch {
        return [];
      }
    });
}
