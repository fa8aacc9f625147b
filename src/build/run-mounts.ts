// RUN --mount: host sources for each mount. Cache mounts are directories kept in the store
// across builds (by id, with shared/private/locked sharing); bind mounts read the context or
// another stage; secrets come from files given on the command line and never enter a layer.

import { chmod, chown, copyFile, cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanContextPath } from '../context/sources.js';
import { sha256Hex } from '../digest/sha256.js';
import { BuilderError } from '../errors.js';
import { secureJoin } from '../runtime/secure-join.js';
import { acquireFileLock, type FileLock } from '../store/meta/file-lock.js';
import { randomHex } from '../sys/index.js';
import type { ResolvedRunMount, RunMount } from './steps/run.js';

export interface ResolveRunMountsOptions {
  storeRoot: string;
  contextDir: string;
  secrets: Record<string, string>;
  rootfs: string;
  mounts: RunMount[];
  /** Holds a read-only view of a stage or image open while `fn` runs. */
  viewOf: (from: string, fn: (root: string) => Promise<void>) => Promise<void>;
}

export interface ResolvedRunMounts {
  mounts: ResolvedRunMount[];
  /** Extra environment (secrets with env=). */
  env: string[];
  release: () => Promise<void>;
}

export async function resolveRunMounts(o: ResolveRunMountsOptions): Promise<ResolvedRunMounts> {
  const out: ResolvedRunMount[] = [];
  const env: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const release = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  const tmpRoot = join(o.storeRoot, 'tmp');
  try {
    for (const m of o.mounts) {
      switch (m.type) {
        case 'tmpfs':
          out.push({
            type: 'tmpfs',
            target: m.target,
            readonly: false,
            ...(m.size ? { options: [`size=${m.size}`] } : {}),
          });
          break;
        case 'cache': {
          const dir = join(o.storeRoot, 'cache', 'mounts', sha256Hex(m.id).slice(0, 32));
          const created = await mkdir(dir, { recursive: true });
          if (created !== undefined) {
            await chown(dir, m.uid ?? 0, m.gid ?? 0);
            await chmod(dir, m.mode ?? 0o755);
          }
          let source = dir;
          if (m.sharing !== 'shared') {
            const lockPath = `${dir}.lock`;
            let lock: FileLock | undefined;
            if (m.sharing === 'locked') {
              lock = await acquireFileLock(lockPath, { timeoutMs: 24 * 3600 * 1000 });
            } else {
              lock = await acquireFileLock(lockPath, { timeoutMs: 0 }).catch(() => undefined);
              if (!lock) {
                // private: someone else holds the cache; work in a fresh one that is thrown away.
                await mkdir(tmpRoot, { recursive: true });
                source = await mkdtemp(join(tmpRoot, 'cache-private-'));
                const s = source;
                cleanups.push(() => rm(s, { recursive: true, force: true }));
              }
            }
            if (lock) {
              const l = lock;
              cleanups.push(() => l.release());
            }
          }
          out.push({ type: 'bind', target: m.target, source, readonly: m.readonly });
          break;
        }
        case 'bind': {
          let root: string;
          if (m.from !== undefined) {
            root = await holdView(o, m.from, cleanups);
          } else {
            root = o.contextDir;
          }
          const rel = m.from === undefined ? cleanContextPath(m.source) : m.source;
          let source = await secureJoin(root, rel);
          if (m.readwrite) {
            // Writes to a rw bind are thrown away after the step, as BuildKit does.
            await mkdir(tmpRoot, { recursive: true });
            const copy = await mkdtemp(join(tmpRoot, 'bind-rw-'));
            await cp(source, join(copy, 'src'), {
              recursive: true,
              preserveTimestamps: true,
              verbatimSymlinks: true,
            });
            cleanups.push(() => rm(copy, { recursive: true, force: true }));
            source = join(copy, 'src');
          }
          out.push({ type: 'bind', target: m.target, source, readonly: !m.readwrite });
          break;
        }
        case 'secret': {
          const file = o.secrets[m.id];
          if (file === undefined) {
            if (m.required) {
              throw new BuilderError('ENOTFOUND', `secret ${m.id} not found`, {
                hint: `Pass it with --secret id=${m.id},src=FILE.`,
              });
            }
            break;
          }
          if (m.env !== undefined) {
            env.push(`${m.env}=${(await readFile(file, 'utf8')).replace(/\n$/, '')}`);
            if (m.target === '') break;
          }
          await mkdir(tmpRoot, { recursive: true });
          const dir = await mkdtemp(join(tmpRoot, 'secret-'));
          cleanups.push(() => rm(dir, { recursive: true, force: true }));
          const copy = join(dir, randomHex(6));
          await copyFile(file, copy);
          await chown(copy, m.uid, m.gid);
          await chmod(copy, m.mode);
          out.push({ type: 'bind', target: m.target, source: copy, readonly: true });
          break;
        }
      }
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { mounts: out, env, release };
}

/** Opens a view and keeps it mounted until the step's cleanup runs. */
async function holdView(
  o: ResolveRunMountsOptions,
  from: string,
  cleanups: (() => Promise<void>)[],
): Promise<string> {
  let releaseView!: () => void;
  const released = new Promise<void>((resolve) => {
    releaseView = resolve;
  });
  const opened = new Promise<string>((resolve, reject) => {
    const done = o.viewOf(from, async (root) => {
      resolve(root);
      await released;
    });
    done.catch(reject);
    cleanups.push(async () => {
      releaseView();
      await done.catch(() => {});
    });
  });
  return opened;
}
