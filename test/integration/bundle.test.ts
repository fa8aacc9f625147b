// The CLI as users run it: `npm run build` bundles src/cli/main.ts into dist/strata-bundle.cjs,
// run by the launcher dist/strata.cjs (package.json "bin") through a V8 code cache. Both files
// exist, answer --version, build and list an image; commands stay lazily loaded in the bundle.

import assert from 'node:assert/strict';
import { isAscii } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_LAUNCHER } from '../helpers/cli-paths.js';
import { repoRoot } from '../helpers/conformance.js';
import { makeTempDir } from '../helpers/tmp-dir.js';
import { mountReason, skipIf } from './prereqs.js';

const BUNDLE = join(repoRoot, 'dist', 'strata-bundle.cjs');
// Even FROM scratch + COPY mounts the layers it builds on.
const reason = mountReason();

describe('the bundled CLI', { concurrency: false }, () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let env: NodeJS.ProcessEnv;
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    version: string;
    bin: Record<string, string>;
  };

  /** Runs node with `args` from a folder outside the checkout, so nothing is found through the cwd. */
  const node = (...args: string[]) => {
    const r = spawnSync(process.execPath, args, { cwd: tmp.path, env, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    for (const f of [CLI_LAUNCHER, BUNDLE])
      assert.ok(existsSync(f), `${f} is missing: run npm run build first`);
    tmp = await makeTempDir('strata-bundle-');
    env = { ...process.env, STRATA_ROOT: join(tmp.path, 'store'), XDG_CACHE_HOME: join(tmp.path, 'cache') };
    await mkdir(join(tmp.path, 'ctx'));
    writeFileSync(join(tmp.path, 'ctx', 'Dockerfile'), 'FROM scratch\nCOPY a /a\n');
    writeFileSync(join(tmp.path, 'ctx', 'a'), 'bundled\n');
    // Lists the Node built-ins a run loaded, on stderr at exit.
    writeFileSync(
      join(tmp.path, 'builtins.cjs'),
      "process.on('exit', () => require('node:fs').writeSync(2, '\\nbuiltins: ' + process.moduleLoadList.join(',') + '\\n'));\n",
    );
  });
  after(() => tmp?.cleanup());

  test('package.json bin is the launcher; the bundle is ASCII (the launcher reads it as latin1)', () => {
    assert.equal(pkg.bin.strata, 'dist/strata.cjs');
    assert.ok(isAscii(readFileSync(BUNDLE)), 'non-ASCII left in the bundle: see scripts/bundle.mjs');
  });

  test('non-ASCII in a regular expression survives the ASCII escaping (µs in a duration)', () => {
    writeFileSync(join(tmp.path, 'Dockerfile.hc'), 'FROM scratch\nHEALTHCHECK --interval=1500µs CMD true\n');
    const r = node(CLI_LAUNCHER, 'dockerfile', 'parse', '--json', join(tmp.path, 'Dockerfile.hc'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"interval": 1500000\b/);
  });

  test('--version from the launcher and from the bundle itself', () => {
    for (const cli of [CLI_LAUNCHER, BUNDLE]) {
      const r = node(cli, '--version');
      assert.deepEqual(r, { code: 0, stdout: `strata version ${pkg.version}\n`, stderr: '' }, cli);
    }
  });

  test('build FROM scratch + COPY into a temp store, again from the cache, then images', (t) => {
    if (skipIf(t, reason)) return;
    const first = node(CLI_LAUNCHER, 'build', '-q', '-t', 'bundled:1', join(tmp.path, 'ctx'));
    assert.equal(first.code, 0, first.stderr);
    const id = first.stdout.trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const again = node(CLI_LAUNCHER, 'build', '-t', 'bundled:1', join(tmp.path, 'ctx'));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout + again.stderr, /COPY a \/a\n#\d+ CACHED/);
    const images = node(CLI_LAUNCHER, 'images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}');
    assert.deepEqual(images, { code: 0, stdout: `bundled:1 ${id.slice(7, 19)}\n`, stderr: '' });
  });

  const builtins = (...args: string[]) => {
    const r = node('-r', join(tmp.path, 'builtins.cjs'), CLI_LAUNCHER, ...args);
    return {
      code: r.code,
      stderr: r.stderr,
      loaded: new Set(/builtins: (.*)/.exec(r.stderr)?.[1]?.split(',')),
    };
  };

  test('--version loads no command module: zlib and child_process are for commands', () => {
    const version = builtins('--version');
    assert.equal(version.code, 0, version.stderr);
    assert.ok(version.loaded.has('NativeModule vm'), 'the probe saw the launcher run');
    assert.ok(!version.loaded.has('NativeModule zlib'), 'zlib loaded by --version');
    assert.ok(!version.loaded.has('NativeModule child_process'), 'child_process loaded by --version');
    // Its output is a pipe here: written directly, not through process.stdout (src/cli/output.ts).
    for (const m of ['net', 'tty', 'stream'])
      assert.ok(!version.loaded.has(`NativeModule ${m}`), `${m} loaded by --version`);
  });

  test('a COPY build loads the engine, and no built-in only some steps need (src/sys/lazy-builtins.ts)', (t) => {
    if (skipIf(t, reason)) return;
    const build = builtins('build', '-q', join(tmp.path, 'ctx'));
    assert.equal(build.code, 0, build.stderr);
    assert.ok(build.loaded.has('NativeModule fs/promises'), `the engine reads files: ${build.stderr}`);
    // zlib: compressed layers; child_process: RUN; http(s): ADD <url>, the registry; perf_hooks:
    // the global `performance`; crypto: hashing big things (small ones go through the addon:
    // src/digest/sha256.ts). Each costs 1-6 ms at every start that loads it.
    // net, tty: process.stdout and process.stderr, not made for pipes (src/cli/output.ts).
    for (const m of ['zlib', 'child_process', 'http', 'https', 'perf_hooks', 'crypto', 'net', 'tty'])
      assert.ok(!build.loaded.has(`NativeModule ${m}`), `${m} loaded by a COPY build`);
  });

  test('the launcher keeps one code cache, written by the commands run', () => {
    const dir = join(tmp.path, 'cache', 'strata');
    // build-memo/ beside it holds the build memos (src/cli/build-memo.ts).
    const files = readdirSync(dir).filter((f) => f !== 'build-memo');
    assert.equal(files.length, 1, files.join(', '));
    const [header = ''] = readFileSync(join(dir, files[0] as string), 'latin1').split('\n', 1);
    const commands = JSON.parse(header.split('\t')[1] ?? '') as string[];
    assert.deepEqual(commands.sort(), reason ? ['', 'dockerfile'] : ['', 'build', 'dockerfile', 'images']);
  });
});
