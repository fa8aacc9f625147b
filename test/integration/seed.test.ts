// The seed, end to end through the CLI: a Debian base made with debootstrap (FROM scratch +
// ADD rootfs.tar /), the Flask example built on it with apt-get, run detached, answering over
// HTTP; then app.py edited and rebuilt: the apt layer comes from the cache, byte for byte.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { findExecutable } from '../../src/runtime/probe.js';
import { repoRoot } from '../helpers/conformance.js';
import { registryMissing, startRegistry } from '../helpers/registry-server.js';
import { mountsBelow, runtimeOrReason, skipIf } from './prereqs.js';

const exec = promisify(execFile);
const runtime = await runtimeOrReason();
const reason =
  typeof runtime === 'string'
    ? runtime
    : findExecutable('debootstrap')
      ? undefined
      : 'no debootstrap (apt-get install debootstrap)';
const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const PORT = 5000 + Math.floor(Math.random() * 1000);

describe('the seed: Flask on Debian', { concurrency: false }, () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  const strata = async (...args: string[]) => {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], {
      env,
      timeout: 600_000,
      maxBuffer: 64 << 20,
    });
    return { stdout, stderr };
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'strata-seed-'));
    env = { ...process.env, STRATA_ROOT: join(root, 'store') };
  });
  after(async () => {
    if (!root) return;
    if (!reason) await strata('rm', '-f', 'seed-web').catch(() => {});
    await rm(root, { recursive: true, force: true });
  });

  test('build the base and the app, run it, get an HTTP answer, edit and rebuild from cache', {
    timeout: 900_000,
  }, async (t) => {
    if (skipIf(t, reason)) return;
    // The rootfs tarball is made once per checkout (about a minute from Debian's mirror).
    await exec('bash', [join(repoRoot, 'scripts', 'make-debian-rootfs.sh')], { timeout: 600_000 });
    await strata('build', '-q', '-t', 'debian:bookworm', join(repoRoot, 'examples', 'debian'));

    const app = join(root, 'flask');
    await cp(join(repoRoot, 'examples', 'flask'), app, { recursive: true });
    await strata('build', '-q', '-t', 'webapp-rockets', app);

    await strata('run', '-d', '--name', 'seed-web', '-e', `PORT=${PORT}`, 'webapp-rockets');
    let answer = '';
    for (let i = 0; i < 150 && answer === ''; i++) {
      answer = await fetch(`http://127.0.0.1:${PORT}/`).then(
        (r) => r.text(),
        () => '',
      );
      if (answer === '') await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(answer, /webapp-rockets is flying!/);
    await strata('stop', 'seed-web');
    await strata('rm', 'seed-web');

    const before = JSON.parse((await strata('inspect', 'webapp-rockets')).stdout)[0];
    await writeFile(
      join(app, 'app.py'),
      (await readFile(join(app, 'app.py'), 'utf8')).replace('is flying!', 'is flying again!'),
    );
    const rebuilt = await strata('build', '--progress', 'plain', '-t', 'webapp-rockets', app);
    assert.match(rebuilt.stderr, /CACHED/);
    assert.match(rebuilt.stderr, /#\d+ \[2\/3\] RUN apt-get update[^\n]*\n#\d+ CACHED/);
    const after_ = JSON.parse((await strata('inspect', 'webapp-rockets')).stdout)[0];
    const layersBefore: string[] = before.RootFS.Layers;
    const layersAfter: string[] = after_.RootFS.Layers;
    assert.deepEqual(layersAfter.slice(0, 2), layersBefore.slice(0, 2), 'the base and apt layers are reused');
    assert.notEqual(layersAfter[2], layersBefore[2]);
    const history = (await strata('history', 'webapp-rockets')).stdout;
    assert.match(history, /RUN \/bin\/sh -c apt-get update/);
    assert.deepEqual(mountsBelow(root), []);

    // The seed ends with a push: to a local registry as user/webapp-rockets:1.0, and back
    // into an empty store.
    const missing = registryMissing();
    if (missing) {
      console.warn(`SKIP push/pull part of the seed: ${missing}`);
      return;
    }
    const registry = await startRegistry('none');
    try {
      const name = `${registry.host}/user/webapp-rockets:1.0`;
      await strata('tag', 'webapp-rockets', name);
      const pushed = await strata('push', name);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
      assert.ok(digest, pushed.stdout);
      const emptyStore = { ...env, STRATA_ROOT: join(root, 'empty-store') };
      const pulled = await exec(process.execPath, [CLI, 'pull', name], { env: emptyStore, timeout: 600_000 });
      assert.match(pulled.stdout, new RegExp(`Digest: ${digest}`));
      const inspected = JSON.parse(
        (await exec(process.execPath, [CLI, 'inspect', name], { env: emptyStore })).stdout,
      )[0];
      assert.deepEqual(inspected.RootFS.Layers, after_.RootFS.Layers);
    } finally {
      await registry.stop();
    }
  });
});
