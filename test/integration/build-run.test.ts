// RUN steps in real containers (runc over overlayfs): what a step changed is exactly its
// layer; USER and WORKDIR are honoured; cache mounts persist; secrets leave no trace; a
// failing RUN leaves the store and the mount table clean.

import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decompressLayer } from '../../src/archive/layer-stream.js';
import { readTar } from '../../src/archive/tar-reader.js';
import { exportRootfs } from '../../src/build/export-rootfs.js';
import { DockerfileError } from '../../src/errors.js';
import { type BuildEnv, makeBuildEnv } from '../helpers/build-env.js';
import { makeBusyboxRootfs, mountsBelow, runtimeOrReason, skipIf } from './prereqs.js';

const runtime = await runtimeOrReason();
const reason = typeof runtime === 'string' ? runtime : undefined;

const BASE = 'FROM scratch AS base\nCOPY rootfs/ /\n';

async function layerEntries(env: BuildEnv, digest: string): Promise<string[]> {
  const { tar } = await decompressLayer(await env.store.content.open(digest as never));
  const out: string[] = [];
  for await (const e of readTar(tar)) {
    out.push(e.type === 'dir' ? `${e.path.replace(/\/$/, '')}/` : e.path);
    e.body.resume();
  }
  return out;
}

describe('build: RUN', { concurrency: false }, () => {
  let env: BuildEnv;
  before(async () => {
    env = await makeBuildEnv();
    if (!reason) await makeBusyboxRootfs(join(env.context, 'rootfs'));
  });
  after(async () => env.cleanup());

  test('a RUN that creates, modifies and deletes files gives exactly that change as its layer', async (t) => {
    if (skipIf(t, reason)) return;
    const r = await env.build(`${BASE}
RUN mkdir -p /data/keep /data/gone /data/replaced && echo old > /data/replaced/old && echo a > /data/keep/a && echo x > /data/file
RUN echo new > /data/new && echo changed > /data/keep/a && rm /data/file && rm -r /data/gone && rm -r /data/replaced && mkdir /data/replaced && echo fresh > /data/replaced/fresh
`);
    const layers = r.image.manifest.layers;
    assert.equal(layers.length, 3);
    const entries = await layerEntries(env, (layers[2] as { digest: string }).digest);
    assert.deepEqual(entries, [
      'data/',
      'data/.wh.file',
      'data/.wh.gone',
      'data/keep/',
      'data/keep/a',
      'data/new',
      'data/replaced/',
      'data/replaced/.wh..wh..opq',
      'data/replaced/fresh',
    ]);
    const dir = join(env.root, 'flat-run');
    await exportRootfs(env.store.content, r.image, dir);
    assert.deepEqual((await readdir(join(dir, 'data'))).sort(), ['keep', 'new', 'replaced']);
    assert.deepEqual(await readdir(join(dir, 'data/replaced')), ['fresh']);
    assert.equal(await readFile(join(dir, 'data/keep/a'), 'utf8'), 'changed\n');
    const history = r.image.config.history ?? [];
    assert.match(
      history[history.length - 1]?.created_by ?? '',
      /^RUN \/bin\/sh -c echo new > \/data\/new .* # buildkit$/,
    );
  });

  test('USER and WORKDIR are honoured; ARGs reach RUN but not the image', async (t) => {
    if (skipIf(t, reason)) return;
    const r = await env.build(`${BASE}
ARG GREETING=hello
USER app
WORKDIR /tmp/work/dir
RUN id -u > uid && id -g > gid && pwd > pwd && echo "$GREETING" > greeting
`);
    const dir = join(env.root, 'flat-user');
    await exportRootfs(env.store.content, r.image, dir);
    assert.equal(await readFile(join(dir, 'tmp/work/dir/uid'), 'utf8'), '1000\n');
    assert.equal(await readFile(join(dir, 'tmp/work/dir/gid'), 'utf8'), '1000\n');
    assert.equal(await readFile(join(dir, 'tmp/work/dir/pwd'), 'utf8'), '/tmp/work/dir\n');
    assert.equal(await readFile(join(dir, 'tmp/work/dir/greeting'), 'utf8'), 'hello\n');
    assert.equal((await stat(join(dir, 'tmp/work/dir'))).uid, 1000, 'WORKDIR is created owned by USER');
    assert.ok(!(r.image.config.config?.Env ?? []).some((e) => e.startsWith('GREETING=')));
    const history = r.image.config.history ?? [];
    assert.match(history[history.length - 1]?.created_by ?? '', /^RUN \|1 GREETING=hello \/bin\/sh -c id -u/);
  });

  test('cache mounts persist between builds and stay out of the layers', async (t) => {
    if (skipIf(t, reason)) return;
    const dockerfile = `${BASE}
RUN --mount=type=cache,target=/var/cache/app sh -c 'echo run >> /var/cache/app/log; wc -l < /var/cache/app/log > /runs'
`;
    const read = async (tag: string) => {
      const r = await env.build(dockerfile, { noCache: true });
      const dir = join(env.root, `flat-cache-${tag}`);
      await exportRootfs(env.store.content, r.image, dir);
      const entries = await layerEntries(env, (r.image.manifest.layers[1] as { digest: string }).digest);
      return { runs: (await readFile(join(dir, 'runs'), 'utf8')).trim(), entries };
    };
    const first = await read('1');
    const second = await read('2');
    assert.equal(first.runs, '1');
    assert.equal(second.runs, '2');
    assert.ok(
      !second.entries.some((e) => e.includes('var/cache/app/log')),
      `the cache is not in the layer: ${second.entries}`,
    );
  });

  test('secrets are readable during RUN and leave no trace in layers, history or config', async (t) => {
    if (skipIf(t, reason)) return;
    const secretFile = join(env.root, 'token.txt');
    await writeFile(secretFile, 'TOP-SECRET-VALUE\n');
    const r = await env.build(
      `${BASE}
RUN --mount=type=secret,id=token sh -c 'wc -c < /run/secrets/token > /secret-size'
RUN --mount=type=secret,id=token,env=TOKEN sh -c 'echo \${#TOKEN} > /env-secret-size'
`,
      { secrets: { token: secretFile } },
    );
    const dir = join(env.root, 'flat-secret');
    await exportRootfs(env.store.content, r.image, dir);
    assert.equal((await readFile(join(dir, 'secret-size'), 'utf8')).trim(), '17');
    assert.equal((await readFile(join(dir, 'env-secret-size'), 'utf8')).trim(), '16');
    await assert.rejects(stat(join(dir, 'run/secrets/token')), /ENOENT/);
    for (const layer of r.image.manifest.layers.slice(1)) {
      const entries = await layerEntries(env, layer.digest);
      assert.ok(!entries.some((e) => e.includes('secrets')), `no secret mount point in ${entries}`);
      const { tar } = await decompressLayer(await env.store.content.open(layer.digest));
      const chunks: Buffer[] = [];
      for await (const c of tar) chunks.push(c as Buffer);
      assert.ok(!Buffer.concat(chunks).includes('TOP-SECRET-VALUE'));
    }
    assert.ok(!JSON.stringify(r.image.config).includes('TOP-SECRET-VALUE'));
  });

  test('a failing RUN reports the exit code, the output and the line, and leaves no cache record or mount', async (t) => {
    if (skipIf(t, reason)) return;
    const dockerfile = `${BASE}
RUN echo about to fail >&2 && exit 3
`;
    await assert.rejects(env.build(dockerfile), (err: unknown) => {
      assert.ok(err instanceof DockerfileError, String(err));
      assert.equal(err.ranges[0]?.start.line, 4);
      assert.match(err.message, /exit code: 3|exit code 3/);
      assert.match(
        String((err.cause as Error | undefined)?.message ?? err.message) + err.message,
        /about to fail|exit/,
      );
      return true;
    });
    assert.deepEqual(mountsBelow(env.root), []);
    const snapshots = await readdir(join(env.store.snapshotsDir, 'metadata')).catch(() => []);
    const leftovers = [];
    for (const f of snapshots) {
      const rec = JSON.parse(await readFile(join(env.store.snapshotsDir, 'metadata', f), 'utf8')) as {
        name?: string;
        kind?: string;
      };
      if (rec.kind !== 'committed') leftovers.push(rec.name);
    }
    assert.deepEqual(leftovers, [], 'no active snapshot is left behind');
    // Running it again fails again: no cache record made it look done.
    await assert.rejects(env.build(dockerfile), /exit code/);
  });

  test('an interrupted RUN (Ctrl-C) stops the container and leaves no mount, snapshot or cache record', async (t) => {
    if (skipIf(t, reason)) return;
    const controller = new AbortController();
    const started = Date.now();
    const building = env.build(`${BASE}\nRUN echo started && sleep 60\n`, {
      signal: controller.signal,
      progress: (e) => {
        if (e.log?.text.includes('started')) controller.abort(new Error('interrupted'));
      },
    });
    await assert.rejects(building);
    assert.ok(Date.now() - started < 30_000, 'the build stopped without waiting for the command');
    assert.deepEqual(mountsBelow(env.root), []);
    const metadata = await readdir(join(env.store.snapshotsDir, 'metadata')).catch(() => []);
    for (const f of metadata) {
      const rec = JSON.parse(await readFile(join(env.store.snapshotsDir, 'metadata', f), 'utf8')) as {
        kind?: string;
        name?: string;
      };
      assert.equal(rec.kind, 'committed', `active snapshot ${rec.name} left behind`);
    }
  });

  test('RUN --mount binds the context and other stages read-only, tmpfs leaves nothing, --network=none isolates', async (t) => {
    if (skipIf(t, reason)) return;
    await env.write({ 'mounted/data.txt': 'from the context\n' });
    const r = await env.build(`${BASE}
FROM base AS other
RUN mkdir -p /made && echo from a stage > /made/it.txt
FROM base
RUN --mount=type=bind,source=mounted,target=/ctx cat /ctx/data.txt > /seen-context && (touch /ctx/x 2>/dev/null && echo rw || echo ro) > /ctx-mode
RUN --mount=type=bind,from=other,source=/made,target=/stage cat /stage/it.txt > /seen-stage
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo temp > /scratch/t && cat /scratch/t > /seen-tmpfs'
RUN --network=none sh -c 'ls /sys/class/net > /nets'
`);
    const dir = join(env.root, 'flat-mounts');
    await exportRootfs(env.store.content, r.image, dir);
    assert.equal(await readFile(join(dir, 'seen-context'), 'utf8'), 'from the context\n');
    assert.equal(await readFile(join(dir, 'ctx-mode'), 'utf8'), 'ro\n');
    assert.equal(await readFile(join(dir, 'seen-stage'), 'utf8'), 'from a stage\n');
    assert.equal(await readFile(join(dir, 'seen-tmpfs'), 'utf8'), 'temp\n');
    assert.equal((await readFile(join(dir, 'nets'), 'utf8')).trim(), 'lo');
    for (const gone of ['ctx', 'stage', 'scratch/t', 'made']) {
      await assert.rejects(stat(join(dir, gone)), /ENOENT/, `${gone} must not be in the image`);
    }
  });

  test('independent stages build at the same time', async (t) => {
    if (skipIf(t, reason)) return;
    const started = Date.now();
    await env.build(`${BASE}
FROM base AS a
RUN sleep 2 && echo a > /a
FROM base AS b
RUN sleep 2 && echo b > /b
FROM base
COPY --from=a /a /a
COPY --from=b /b /b
`);
    const took = Date.now() - started;
    assert.ok(took < 3900, `two 2 s stages took ${took} ms: they ran one after the other`);
  });
});
