// The `strata` front program (native/strata_front.c) and the build memo (src/cli/build-memo.ts):
// a no-op build is answered without Node, and anything the build depends on that changes
// makes the front program start the CLI instead, which builds the right image.
//
// "Answered without Node" is checked by running the front program with no node on its PATH:
// it can then only succeed by answering from the memo.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MEMO_LINE } from '../../src/cli/build-memo.js';
import { CLI_LAUNCHER, FRONT_PROGRAM } from '../helpers/cli-paths.js';
import { repoRoot } from '../helpers/conformance.js';
import { frontProgram } from '../helpers/front-program.js';
import { makeTempDir } from '../helpers/tmp-dir.js';
import { mountReason, skipIf } from './prereqs.js';

const reason = existsSync(FRONT_PROGRAM)
  ? mountReason()
  : `${FRONT_PROGRAM} is missing (npm run build:native)`;

describe('the strata front program and the build memo', { concurrency: false }, () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let env: NodeJS.ProcessEnv;
  let ctx: string;
  let memoDir: string;

  const { run, answer, built, settle } = frontProgram(
    () => tmp.path,
    () => env,
  );
  const build = (...extra: string[]) => ['build', '-q', '-t', 'memo:1', ...extra, ctx];

  before(async () => {
    tmp = await makeTempDir('strata-memo-');
    memoDir = join(tmp.path, 'cache', 'strata', 'build-memo');
    env = {
      PATH: process.env.PATH,
      HOME: tmp.path,
      STRATA_ROOT: join(tmp.path, 'store'),
      XDG_CACHE_HOME: join(tmp.path, 'cache'),
    };
    ctx = join(tmp.path, 'ctx');
    await mkdir(join(ctx, 'sub'), { recursive: true });
    await mkdir(join(tmp.path, 'base'));
    writeFileSync(join(tmp.path, 'base', 'Dockerfile'), 'FROM scratch\nCOPY b /b\n');
    writeFileSync(join(tmp.path, 'base', 'b'), 'base\n');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM memo-base\nCOPY a /a\nCOPY sub/ /sub/\n');
    writeFileSync(join(ctx, 'a'), 'aaaa\n');
    writeFileSync(join(ctx, 'sub', 'c'), 'cccc\n');
  });
  after(() => tmp?.cleanup());

  test('other commands pass through to the CLI: same output and exit code', (t) => {
    if (skipIf(t, reason)) return;
    const launcher = (args: string[]) =>
      spawnSync(process.execPath, [CLI_LAUNCHER, ...args], { cwd: tmp.path, env, encoding: 'utf8' });
    for (const args of [['--version'], ['no-such-command'], ['build', '--no-such-flag', '.']]) {
      const a = run(args);
      const b = launcher(args);
      assert.deepEqual(a, { code: b.status, stdout: b.stdout, stderr: b.stderr }, args.join(' '));
    }
    assert.notEqual(answer(['--version']).code, 0, 'without node, --version cannot work');
  });

  test('a no-op build is answered from the memo, with the same image and output', (t) => {
    if (skipIf(t, reason)) return;
    built(['build', '-q', '-t', 'memo-base', join(tmp.path, 'base')]);
    settle();
    const id = built(build());
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const again = answer(build());
    assert.deepEqual(again, { code: 0, stdout: `${id}\n`, stderr: '' });
    // Plain progress: every step CACHED, after a line that says why.
    const plain = ['build', '--progress', 'plain', '-t', 'memo:1', ctx];
    const viaCli = run(plain);
    assert.equal(viaCli.code, 0, viaCli.stderr);
    const memo = answer(plain);
    assert.equal(memo.code, 0, memo.stderr);
    assert.ok(memo.stderr.startsWith(MEMO_LINE), memo.stderr);
    assert.match(memo.stderr, /COPY a \/a\n#\d+ CACHED\n/);
    assert.match(memo.stderr, /COPY sub\/ \/sub\/\n#\d+ CACHED\n/);
    assert.match(
      memo.stderr,
      new RegExp(`Successfully built ${id}\nSuccessfully tagged docker.io/library/memo:1\n$`),
    );
  });

  // Each change below must make the front program start the CLI; the build then makes the
  // image this change calls for, and leaves a memo that answers the next no-op.
  // sameImage: whether the build after the change must give the image before it (undefined: either).
  const changes: Array<{ name: string; change: () => void; sameImage?: boolean }> = [
    {
      name: 'a file rewritten with the same size and its old mtime put back',
      change: () => {
        const f = join(ctx, 'a');
        const st = statSync(f);
        writeFileSync(f, 'bbbb\n');
        utimesSync(f, st.atime, st.mtime);
      },
      sameImage: false,
    },
    {
      name: 'a new file in a subdirectory',
      change: () => writeFileSync(join(ctx, 'sub', 'd'), 'dddd\n'),
      sameImage: false,
    },
    {
      name: 'a file nothing copies (the memo is stricter than the cache)',
      change: () => writeFileSync(join(ctx, 'README'), 'not copied\n'),
      sameImage: true,
    },
    {
      name: 'a mode change',
      change: () => chmodSync(join(ctx, 'sub', 'c'), 0o600),
      sameImage: false,
    },
    {
      name: 'the base tag moved to another image',
      change: () => {
        writeFileSync(join(tmp.path, 'base', 'b'), 'other base\n');
        built(['build', '-q', '-t', 'memo-base', join(tmp.path, 'base')]);
      },
      sameImage: false,
    },
    {
      name: 'the tag of the result moved',
      change: () => built(['tag', 'memo-base', 'memo:1']),
      sameImage: true,
    },
    {
      name: 'the result removed',
      change: () => built(['rmi', 'memo:1']),
      sameImage: true,
    },
    {
      name: 'the build cache gone (as a cache GC leaves it)',
      change: () => rmSync(join(tmp.path, 'store', 'meta', 'v1', 'cache-index'), { recursive: true }),
    },
    {
      name: 'SOURCE_DATE_EPOCH set',
      change: () => {
        env.SOURCE_DATE_EPOCH = '1700000000';
      },
      sameImage: false,
    },
    {
      name: 'the CLI rebuilt (its bundle touched)',
      change: () => {
        const bundle = join(repoRoot, 'dist', 'strata-bundle.cjs');
        const now = new Date();
        utimesSync(bundle, now, now);
      },
      sameImage: true,
    },
  ];
  for (const c of changes) {
    test(`not answered after ${c.name}`, (t) => {
      if (skipIf(t, reason)) return;
      settle();
      const before = built(build());
      assert.equal(answer(build()).code, 0, 'the no-op before the change is answered');
      c.change();
      settle();
      const skipped = answer(build());
      assert.notEqual(skipped.code, 0, `answered from the memo after ${c.name}`);
      const after = built(build());
      if (c.sameImage === true) assert.equal(after, before);
      if (c.sameImage === false) assert.notEqual(after, before);
      assert.deepEqual(answer(build()), { code: 0, stdout: `${after}\n`, stderr: '' });
    });
  }

  test('a top-level directory .dockerignore excludes whole (.git) is not looked into; others are', (t) => {
    if (skipIf(t, reason)) return;
    mkdirSync(join(ctx, '.git'));
    mkdirSync(join(ctx, 'logs'));
    writeFileSync(join(ctx, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(join(ctx, 'logs', 'a.log'), 'one\n');
    writeFileSync(join(ctx, '.dockerignore'), '.git\nlogs\n!logs/keep\n');
    settle();
    const id = built(build());
    assert.equal(answer(build()).code, 0);
    writeFileSync(join(ctx, '.git', 'HEAD'), 'ref: refs/heads/other\n');
    writeFileSync(join(ctx, '.git', 'index'), 'as git status leaves it\n');
    assert.deepEqual(answer(build()), { code: 0, stdout: `${id}\n`, stderr: '' }, 'a change in .git');
    // logs/ is excluded but an exception could reach into it: it is looked into.
    writeFileSync(join(ctx, 'logs', 'a.log'), 'two\n');
    assert.notEqual(answer(build()).code, 0, 'answered after a change in logs/');
    assert.equal(built(build()), id);
    rmSync(join(ctx, '.git'), { recursive: true });
    rmSync(join(ctx, 'logs'), { recursive: true });
    rmSync(join(ctx, '.dockerignore'));
  });

  test('other arguments are another invocation: their own memo', (t) => {
    if (skipIf(t, reason)) return;
    settle();
    built(build());
    assert.equal(answer(build()).code, 0);
    assert.notEqual(answer(build('--label', 'x=y')).code, 0);
    const labelled = built(build('--label', 'x=y'));
    assert.deepEqual(answer(build('--label', 'x=y')), { code: 0, stdout: `${labelled}\n`, stderr: '' });
  });

  test('a Dockerfile outside the context is pinned by its content', (t) => {
    if (skipIf(t, reason)) return;
    const file = join(tmp.path, 'Dockerfile.out');
    writeFileSync(file, 'FROM memo-base\nCOPY a /a\n');
    settle();
    const first = built(build('-f', file));
    assert.equal(answer(build('-f', file)).code, 0);
    writeFileSync(file, 'FROM memo-base\nCOPY a /x\n');
    assert.notEqual(answer(build('-f', file)).code, 0);
    assert.notEqual(built(build('-f', file)), first);
  });

  test('no memo from a build whose context changed just before it started, nor with flags that read more', (t) => {
    if (skipIf(t, reason)) return;
    writeFileSync(join(ctx, 'a'), 'fresh\n');
    const r = run(build(), { STRATA_BUILD_MEMO: 'explain' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /build memo: none written: a context file changed just before or during the build/,
    );
    assert.notEqual(answer(build()).code, 0);
    for (const flags of [['--no-cache'], ['--output', `type=local,dest=${join(tmp.path, 'out')}`]]) {
      settle();
      const f = run(build(...flags), { STRATA_BUILD_MEMO: 'explain' });
      assert.equal(f.code, 0, f.stderr);
      assert.match(f.stderr, /build memo: none written: --/);
      assert.notEqual(answer(build(...flags)).code, 0, flags.join(' '));
    }
  });

  test('--iidfile: an answer writes the file again, as the build would', (t) => {
    if (skipIf(t, reason)) return;
    settle();
    const iid = 'iid.txt'; // relative: to the working directory, as docker takes it
    const id = built(build('--iidfile', iid));
    const file = join(tmp.path, iid);
    assert.equal(readFileSync(file, 'utf8'), id);
    rmSync(file);
    assert.deepEqual(answer(build('--iidfile', iid)), { code: 0, stdout: `${id}\n`, stderr: '' });
    assert.equal(readFileSync(file, 'utf8'), id, 'the answer did not write the iidfile');
    // Where it cannot be written, the CLI takes over and says why.
    const blocked = ['build', '-q', '-t', 'memo:1', '--iidfile', join(tmp.path, 'no-dir', 'iid'), ctx];
    settle();
    assert.notEqual(run(blocked).code, 0);
    assert.notEqual(answer(blocked).code, 0);
  });

  test('a memo in a folder others may write, or a damaged one, is not used; the build still works', (t) => {
    if (skipIf(t, reason)) return;
    settle();
    const id = built(build());
    assert.equal(answer(build()).code, 0);
    chmodSync(memoDir, 0o777);
    assert.notEqual(answer(build()).code, 0, 'used a memo from a folder anyone may write');
    chmodSync(memoDir, 0o700);
    assert.equal(answer(build()).code, 0);
    for (const name of readdirSync(memoDir)) {
      const file = join(memoDir, name);
      const text = readFileSync(file);
      writeFileSync(file, text.subarray(0, text.length - 6)); // the end record cut off
    }
    assert.notEqual(answer(build()).code, 0, 'used a truncated memo');
    assert.equal(built(build()), id);
    const off = answer(build(), { STRATA_BUILD_MEMO: '0' });
    assert.notEqual(off.code, 0, 'STRATA_BUILD_MEMO=0 still answered');
  });
});
