// Images for store, transfer and CLI tests: temp stores, small layers written through our tar
// writer, random images, and a check that external tools exist (tests skip LOUDLY without them).

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { type TarWriterEntry, tarStream } from '../../src/archive/tar-writer.js';
import type { Digest } from '../../src/digest/digest.js';
import { writeLayer } from '../../src/image/write-layer.js';
import type { Descriptor, ImageConfig } from '../../src/oci/types.js';
import type { StoredImage } from '../../src/store/image-store.js';
import { Store } from '../../src/store/store.js';
import { skipIf } from '../integration/prereqs.js';
import { makeTempDir } from './tmp-dir.js';

export interface TempStore {
  store: Store;
  root: string;
  cleanup(): Promise<void>;
}

export async function tmpStore(prefix = 'strata-images-'): Promise<TempStore> {
  const dir = await makeTempDir(prefix);
  const store = await Store.open(dir.path, { lockOptions: { staleMs: 5000, timeoutMs: 20_000 } });
  return { store, root: dir.path, cleanup: dir.cleanup };
}

/** Runs `fn` with a fresh store, removed afterwards. */
export async function withStore<T>(fn: (store: Store, root: string) => Promise<T>): Promise<T> {
  const t = await tmpStore();
  try {
    return await fn(t.store, t.root);
  } finally {
    await t.cleanup();
  }
}

export interface FileSpec {
  path: string;
  body?: string | Uint8Array;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  linkname?: string;
  mode?: number;
}

/** A tar of `files` (our deterministic writer). */
export function tarOf(files: FileSpec[]): Readable {
  const entries: TarWriterEntry[] = files.map((f) => {
    const type = f.type ?? (f.path.endsWith('/') ? 'dir' : 'file');
    const body = f.body === undefined ? Buffer.alloc(0) : Buffer.from(f.body);
    return {
      path: f.path,
      type,
      mode: f.mode ?? (type === 'dir' ? 0o755 : 0o644),
      uid: 0,
      gid: 0,
      size: type === 'file' ? body.length : 0,
      mtime: 1_700_000_000,
      ...(f.linkname === undefined ? {} : { linkname: f.linkname }),
      ...(type === 'file' && body.length > 0 ? { open: () => [body] } : {}),
    };
  });
  return tarStream(entries);
}

export async function tarBytes(files: FileSpec[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of tarOf(files)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export interface LayerInfo {
  descriptor: Descriptor;
  diffId: Digest;
  uncompressedSize: number;
}

export async function addLayer(
  store: Store,
  files: FileSpec[],
  options: { compression?: 'gzip' | 'zstd' | 'none'; mediaTypes?: 'oci' | 'docker' } = {},
): Promise<LayerInfo> {
  return writeLayer(store.content, tarOf(files), {
    ...options,
    recordLayer: (diffId, size) => store.images.recordLayer(diffId, size),
  });
}

/** A config over `layers`, one history entry per layer plus an empty one. */
export function configFor(layers: LayerInfo[], extra: Partial<ImageConfig> = {}): ImageConfig {
  const created = '2024-01-02T03:04:05Z';
  return {
    architecture: 'amd64',
    os: 'linux',
    created,
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: [
      ...layers.map((_, i) => ({
        created,
        created_by: `/bin/sh -c echo layer ${i} > /layer-${i}.txt && a very long command line that goes on`,
        comment: 'buildkit.dockerfile.v0',
      })),
      { created, created_by: 'CMD ["/bin/sh"]', comment: 'buildkit.dockerfile.v0', empty_layer: true },
    ],
    ...extra,
  };
}

/** An image with `count` small random layers (distinct content per call unless `seed` is given). */
export async function randomImage(
  store: Store,
  options: {
    layers?: number;
    seed?: string;
    mediaTypes?: 'oci' | 'docker';
    compression?: 'gzip' | 'none';
    created?: string;
  } = {},
): Promise<StoredImage> {
  const seed = options.seed ?? randomBytes(8).toString('hex');
  const layers: LayerInfo[] = [];
  for (let i = 0; i < (options.layers ?? 2); i++) {
    const body = createHash('sha256').update(`${seed}/${i}`).digest('hex').repeat(40);
    layers.push(
      await addLayer(store, [{ path: `layer-${i}/` }, { path: `layer-${i}/data.txt`, body }], {
        ...(options.compression === undefined ? {} : { compression: options.compression }),
        ...(options.mediaTypes === undefined ? {} : { mediaTypes: options.mediaTypes }),
      }),
    );
  }
  return store.images.put(
    configFor(layers, {
      author: seed,
      ...(options.created === undefined ? {} : { created: options.created }),
    }),
    layers.map((l) => l.descriptor),
    options.mediaTypes === undefined ? {} : { mediaTypes: options.mediaTypes },
  );
}

/** Why `tool` cannot be used here, or undefined when it runs. */
export function toolMissing(tool: string, args: string[] = ['--version']): string | undefined {
  try {
    execFileSync(tool, args, { stdio: 'ignore', timeout: 20_000 });
    return undefined;
  } catch (err) {
    return `${tool} is not usable here (${(err as Error).message.split('\n')[0]}); bash scripts/install-deps.sh installs it`;
  }
}

/** Skips the test LOUDLY (stderr and the report) when a tool is missing; true when skipped. */
export function skipWithoutTools(t: TestContext, ...tools: string[]): boolean {
  for (const tool of tools) {
    const reason = toolMissing(tool);
    if (skipIf(t, reason)) return true;
  }
  return false;
}
