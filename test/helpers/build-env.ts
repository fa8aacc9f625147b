// A throwaway store and build context for build tests.

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildInStore, type StoreBuildOptions } from '../../src/build/build-in-store.js';
import type { BuildResult } from '../../src/build/engine.js';
import type { ProgressEvent } from '../../src/build/progress.js';
import { Store } from '../../src/store/store.js';

export interface BuildEnv {
  root: string;
  store: Store;
  context: string;
  write(files: Record<string, string>): Promise<void>;
  build(
    dockerfile: string,
    options?: Partial<StoreBuildOptions>,
  ): Promise<BuildResult & { events: ProgressEvent[] }>;
  cleanup(): Promise<void>;
}

export async function makeBuildEnv(): Promise<BuildEnv> {
  const root = await mkdtemp(join(tmpdir(), 'strata-build-test-'));
  const store = await Store.open(join(root, 'store'));
  const context = join(root, 'context');
  await mkdir(context);
  return {
    root,
    store,
    context,
    async write(files) {
      for (const [name, content] of Object.entries(files)) {
        await mkdir(dirname(join(context, name)), { recursive: true });
        await writeFile(join(context, name), content);
      }
    },
    async build(dockerfile, options = {}) {
      const events: ProgressEvent[] = [];
      const result = await buildInStore(store, {
        contextDir: context,
        dockerfile: { text: dockerfile, name: 'Dockerfile' },
        progress: (e) => events.push(e),
        ...options,
      });
      return { ...result, events };
    },
    async cleanup() {
      await rm(root, { recursive: true, force: true });
    },
  };
}

export async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8');
}
