// BuildKit's end-to-end .dockerignore builds (dockerignore/walk-cases.json → buildkitContextBuilds),
// run through Strata: what the context holds after .dockerignore, a pattern that must fail the
// build, and `<Dockerfile>.dockerignore` taking precedence.

import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildInStore } from '../../src/build/build-in-store.js';
import { exportRootfs } from '../../src/build/export-rootfs.js';
import { type BuildEnv, makeBuildEnv } from '../helpers/build-env.js';
import { readConformanceJson } from '../helpers/conformance.js';
import { makeBusyboxRootfs, runtimeOrReason, skipIf } from './prereqs.js';

interface Case {
  id: string;
  context: Record<string, string>;
  expectInImage?: Record<string, string>;
  expectAbsent?: string[];
  expectBuildError?: boolean;
  builds?: { dockerfile: string; expectSuccess: boolean }[];
}

const { buildkitContextBuilds } = await readConformanceJson<{ buildkitContextBuilds: { cases: Case[] } }>(
  'dockerignore',
  'walk-cases.json',
);
const runtime = await runtimeOrReason();
const reason = typeof runtime === 'string' ? runtime : undefined;

describe('.dockerignore builds (BuildKit integration cases)', { concurrency: false }, () => {
  let env: BuildEnv;
  before(async () => {
    env = await makeBuildEnv();
    if (reason) return;
    // The cases say FROM busybox: make one from busybox-static, in a context of its own.
    const baseContext = join(env.root, 'busybox-context');
    await makeBusyboxRootfs(
      await mkdir(join(baseContext, 'rootfs'), { recursive: true }).then(() => join(baseContext, 'rootfs')),
    );
    await buildInStore(env.store, {
      contextDir: baseContext,
      dockerfile: { text: 'FROM scratch\nCOPY rootfs/ /\n', name: 'Dockerfile' },
      tags: ['busybox'],
    });
  });
  after(async () => env.cleanup());

  for (const c of buildkitContextBuilds.cases) {
    test(c.id, async (t) => {
      if (skipIf(t, reason)) return;
      const dir = join(env.root, c.id);
      await mkdir(dir, { recursive: true });
      for (const [name, content] of Object.entries(c.context)) await writeFile(join(dir, name), content);
      const buildWith = (dockerfile: string) =>
        buildInStore(env.store, {
          contextDir: dir,
          dockerfile: {
            text: c.context[dockerfile] as string,
            name: dockerfile,
            path: join(dir, dockerfile),
          },
        });
      if (c.expectBuildError) {
        await assert.rejects(buildWith('Dockerfile'), /illegal exclusion pattern/);
        return;
      }
      if (c.builds) {
        for (const b of c.builds) {
          if (b.expectSuccess) await buildWith(b.dockerfile);
          else await assert.rejects(buildWith(b.dockerfile));
        }
        return;
      }
      const result = await buildWith('Dockerfile');
      const flat = join(env.root, `${c.id}-flat`);
      await exportRootfs(env.store.content, result.image, flat);
      for (const [name, content] of Object.entries(c.expectInImage ?? {})) {
        assert.equal(await readFile(join(flat, name), 'utf8'), content, name);
      }
      for (const name of c.expectAbsent ?? []) {
        await assert.rejects(stat(join(flat, name)), /ENOENT/, `${name} must not be in the image`);
      }
    });
  }
});
