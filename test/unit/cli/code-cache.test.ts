// The launcher's V8 code cache (src/cli/code-cache.ts), on small stand-in bundles run in child
// processes (the cache is written at exit): hits after the first run, a changed bundle never runs
// stale cached code, corrupt or unsafe caches fall back to compiling, and the bundle's own errors
// still surface.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { commandWord, defaultCacheDir } from '../../../src/cli/code-cache.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';

const codeCacheModule = new URL('../../../src/cli/code-cache.js', import.meta.url).href;

describe('code cache', () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let n = 0;
  before(async () => {
    tmp = await makeTempDir('strata-code-cache-');
    writeFileSync(
      join(tmp.path, 'runner.mjs'),
      `import { runBundle } from ${JSON.stringify(codeCacheModule)};
const [bundle, dir, command] = process.argv.slice(2);
const state = runBundle(bundle, { cacheDir: dir === '-' ? undefined : dir, command });
process.stdout.write('state=' + state + '\\n');
`,
    );
  });
  after(() => tmp.cleanup());

  /** A bundle whose function's result shows which code ran, and what the wrapper passed. */
  function bundleSource(word: string): string {
    return `#!/usr/bin/env node
function greet() { return ${JSON.stringify(word)}; }
const path = require('node:path');
process.stdout.write(greet() + ' ' + path.basename(__filename) + ' ' + (this === module.exports) + '\\n');
`;
  }

  function setup(word = 'alpha'): { bundle: string; dir: string } {
    const where = join(tmp.path, `case${n++}`);
    mkdirSync(where);
    const bundle = join(where, 'bundle.cjs');
    writeFileSync(bundle, bundleSource(word));
    return { bundle, dir: join(where, 'cache') };
  }

  function run(
    bundle: string,
    dir: string | undefined,
    command = 'build',
  ): { out: string; code: number | null } {
    const r = spawnSync(process.execPath, [join(tmp.path, 'runner.mjs'), bundle, dir ?? '-', command], {
      encoding: 'utf8',
    });
    return { out: r.stdout + r.stderr, code: r.status };
  }

  function cacheFile(dir: string): string {
    const files = readdirSync(dir);
    assert.equal(files.length, 1, `one cache file, no temporary left: ${files.join(', ')}`);
    return join(dir, files[0] as string);
  }

  test('the first run compiles and writes the cache; the next runs from it', () => {
    const { bundle, dir } = setup();
    assert.deepEqual(run(bundle, dir), { out: 'alpha bundle.cjs true\nstate=miss\n', code: 0 });
    const file = cacheFile(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, 'latin1').split('\n')[0] as string, /\t\["build"\]$/);
    assert.deepEqual(run(bundle, dir), { out: 'alpha bundle.cjs true\nstate=hit\n', code: 0 });
  });

  test('a command not seen before rewrites the cache, a known one leaves it', () => {
    const { bundle, dir } = setup();
    run(bundle, dir, '');
    const first = readFileSync(cacheFile(dir));
    assert.equal(run(bundle, dir, '').out, 'alpha bundle.cjs true\nstate=hit\n');
    assert.deepEqual(readFileSync(cacheFile(dir)), first, 'a known command writes nothing');
    assert.equal(run(bundle, dir, 'build').out, 'alpha bundle.cjs true\nstate=hit\n');
    const header = readFileSync(cacheFile(dir), 'latin1').split('\n')[0] as string;
    assert.match(header, /\t\["","build"\]$/);
  });

  test('a changed bundle of the same length runs its new code, then caches that', () => {
    const { bundle, dir } = setup('alpha');
    run(bundle, dir);
    assert.equal(run(bundle, dir).out, 'alpha bundle.cjs true\nstate=hit\n');
    writeFileSync(bundle, bundleSource('omega'));
    assert.equal(run(bundle, dir).out, 'omega bundle.cjs true\nstate=stale\n');
    assert.equal(run(bundle, dir).out, 'omega bundle.cjs true\nstate=hit\n');
  });

  test('corrupt cache data is rejected by V8 and rewritten; a garbled header is stale', () => {
    const { bundle, dir } = setup();
    run(bundle, dir);
    const file = cacheFile(dir);
    // Header and the copy of the bundle kept, V8's data after them overwritten.
    const bytes = readFileSync(file);
    const dataAt = bytes.indexOf(10) + 1 + readFileSync(bundle).length;
    writeFileSync(
      file,
      Buffer.concat([bytes.subarray(0, dataAt), Buffer.alloc(bytes.length - dataAt, 0x5a)]),
    );
    assert.deepEqual(run(bundle, dir), { out: 'alpha bundle.cjs true\nstate=rejected\n', code: 0 });
    assert.equal(run(bundle, dir).out, 'alpha bundle.cjs true\nstate=hit\n');
    writeFileSync(file, 'not a cache');
    assert.equal(run(bundle, dir).out, 'alpha bundle.cjs true\nstate=stale\n');
    assert.equal(run(bundle, dir).out, 'alpha bundle.cjs true\nstate=hit\n');
  });

  test('no cache where the folder is not private, not a folder, or none is given', () => {
    const { bundle, dir } = setup();
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    assert.deepEqual(run(bundle, dir), { out: 'alpha bundle.cjs true\nstate=off\n', code: 0 });
    assert.deepEqual(readdirSync(dir), [], 'nothing written where others may write');
    const notDir = join(tmp.path, `file${n++}`);
    writeFileSync(notDir, '');
    assert.deepEqual(run(bundle, notDir), { out: 'alpha bundle.cjs true\nstate=off\n', code: 0 });
    assert.deepEqual(run(bundle, undefined), { out: 'alpha bundle.cjs true\nstate=off\n', code: 0 });
  });

  test("the bundle's own errors propagate", () => {
    const { bundle, dir } = setup();
    writeFileSync(bundle, "throw new Error('bundle failed');\n");
    const r = run(bundle, dir);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /Error: bundle failed/);
    assert.doesNotMatch(r.out, /state=/);
  });

  test('where the cache lives, and the command word', () => {
    assert.equal(defaultCacheDir({ STRATA_CODE_CACHE: '0', HOME: '/h' }), undefined);
    assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' }), '/x/strata');
    assert.equal(defaultCacheDir({ HOME: '/h' }), '/h/.cache/strata');
    assert.equal(defaultCacheDir({}), undefined);
    assert.equal(commandWord(['-D', 'build', '-t', 'a', '.']), 'build');
    assert.equal(commandWord(['--version']), '');
    assert.equal(commandWord([]), '');
  });
});
