// The context walker beyond fsutil's cases: what it does not read, symlinks, order, stacking a
// COPY selection over .dockerignore, errors, and a 5,000-file context.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  type ContextEntry,
  compareByteOrder,
  PatternMatcher,
  type WalkContextOptions,
  type WalkCounters,
  walkContext,
} from '../../../src/context/index.js';
import { BuilderError } from '../../../src/errors.js';

const scratch = await mkdtemp(join(tmpdir(), 'strata-walk-unit-'));
after(() => rm(scratch, { recursive: true, force: true }));
let n = 0;

async function tree(files: string[]): Promise<string> {
  const root = join(scratch, `t-${n++}`);
  await mkdir(root);
  for (const f of files) {
    const abs = join(root, f);
    if (f.endsWith('/')) {
      await mkdir(abs, { recursive: true });
    } else {
      await mkdir(dirname(abs), { recursive: true });
      await writeFile(abs, f);
    }
  }
  return root;
}

async function collect(root: string, options: WalkContextOptions = {}): Promise<ContextEntry[]> {
  const out: ContextEntry[] = [];
  for await (const e of walkContext(root, options)) out.push(e);
  return out;
}

const lines = (entries: ContextEntry[]) => entries.map((e) => `${e.type} ${e.path}`);

describe('walkContext: what it reads', () => {
  const files = ['node_modules/a/b/c.js', 'node_modules/d.js', 'src/main.go', 'src/docs/x.md', 'README.md'];

  it('does not enter an excluded directory without a possible exception inside', async () => {
    const root = await tree(files);
    const counters: WalkCounters = { directoriesRead: 0, stats: 0 };
    const got = await collect(root, { exclude: ['node_modules', '!README.md', '!src/**/*.md'], counters });
    assert.deepEqual(lines(got), [
      'file README.md',
      'dir src',
      'dir src/docs',
      'file src/docs/x.md',
      'file src/main.go',
    ]);
    assert.equal(counters.directoriesRead, 3); // root, src, src/docs
    assert.equal(counters.stats, got.length); // excluded entries are never stat'ed
  });

  it('enters it when an exception could match inside', async () => {
    const root = await tree(files);
    const counters: WalkCounters = { directoriesRead: 0, stats: 0 };
    const got = await collect(root, { exclude: ['node_modules', '!node_modules/a/b'], counters });
    assert.deepEqual(lines(got).slice(0, 5), [
      'file README.md',
      'dir node_modules',
      'dir node_modules/a',
      'dir node_modules/a/b',
      'file node_modules/a/b/c.js',
    ]);
    assert.ok(!lines(got).includes('file node_modules/d.js'));
    assert.equal(counters.directoriesRead, 6); // root, node_modules, a, b, src, src/docs
  });

  it('include patterns only enter the directories that lead to them', async () => {
    const root = await tree(files);
    const counters: WalkCounters = { directoriesRead: 0, stats: 0 };
    const got = await collect(root, { include: ['src/docs'], counters });
    assert.deepEqual(lines(got), ['dir src', 'dir src/docs', 'file src/docs/x.md']);
    assert.equal(counters.directoriesRead, 3);
  });
});

describe('walkContext: entries', () => {
  it('reports symlinks without following them, with their own lstat', async () => {
    const root = await tree(['real/file']);
    await symlink('real', join(root, 'link'));
    await symlink('/nonexistent', join(root, 'dangling'));
    const got = await collect(root);
    assert.deepEqual(lines(got), ['symlink dangling', 'symlink link', 'dir real', 'file real/file']);
    assert.ok(got[0]?.stat.isSymbolicLink());
    assert.equal(got[3]?.stat.size, 'real/file'.length);
  });

  it('follows a symlinked root', async () => {
    const root = await tree(['a']);
    const link = join(scratch, `root-link-${n++}`);
    await symlink(root, link);
    assert.deepEqual(lines(await collect(link)), ['file a']);
  });

  it('orders siblings by UTF-8 bytes, a directory before its contents', async () => {
    const root = await tree(['b', 'a/z', 'a.txt', '\uFFFD', '😀', 'B', 'a-b']);
    assert.deepEqual(got(await collect(root)), ['B', 'a', 'a/z', 'a-b', 'a.txt', 'b', '\uFFFD', '😀']);
    function got(entries: ContextEntry[]) {
      return entries.map((e) => e.path);
    }
  });

  it('compareByteOrder matches Buffer order', () => {
    const names = ['\uFFFD', '😀', 'a', '\uE000', 'é', 'ab', ''];
    const byBytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual([...names].sort(compareByteOrder), byBytes);
  });
});

describe('walkContext: layers', () => {
  it('a COPY selection over a .dockerignore', async () => {
    const root = await tree(['app/a.js', 'app/a.test.js', 'app/lib/b.js', 'secrets/key', 'Dockerfile']);
    const got = await collect(root, {
      exclude: ['secrets', '**/*.test.js'],
      layers: [{ include: ['app', 'secrets/key'], exclude: ['app/lib'] }],
    });
    assert.deepEqual(lines(got), ['dir app', 'file app/a.js']);
  });
});

describe('walkContext: errors', () => {
  it('bad patterns throw before the walk starts', () => {
    assert.throws(() => walkContext(scratch, { exclude: ['!'] }), BuilderError);
    assert.throws(
      () => walkContext(scratch, { layers: [{ include: ['a['] }] }),
      /invalid include patterns: syntax error/,
    );
  });

  it('a pattern whose class cannot compile fails when first used', async () => {
    const root = await tree(['x']);
    await assert.rejects(collect(root, { exclude: ['[Local-Only]'] }), /syntax error in pattern/);
    // Never evaluated (an exception while nothing is excluded): no error, as upstream.
    assert.deepEqual(lines(await collect(root, { exclude: ['![Local-Only]'] })), ['file x']);
  });

  it('the root must be a directory', async () => {
    const root = await tree(['f']);
    await assert.rejects(
      collect(join(root, 'f')),
      (err: unknown) => err instanceof BuilderError && err.code === 'EINVAL',
    );
    await assert.rejects(
      collect(join(root, 'missing')),
      (err: unknown) => err instanceof BuilderError && err.code === 'ENOTFOUND',
    );
  });

  it('stops when aborted', async () => {
    const root = await tree(['a', 'b', 'c/d']);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(collect(root, { signal: controller.signal }), { name: 'AbortError' });
  });
});

describe('walkContext: a large context', () => {
  it('walks 5,000 files, excluding a 1,000-file directory without reading it', async () => {
    const root = join(scratch, `big-${n++}`);
    for (let d = 0; d < 50; d++) {
      await mkdir(join(root, 'src', `d${d}`), { recursive: true });
      await Promise.all(
        Array.from({ length: 100 }, (_, f) => writeFile(join(root, 'src', `d${d}`, `f${f}.txt`), '')),
      );
    }
    await mkdir(join(root, 'node_modules', 'pkg'), { recursive: true });
    await Promise.all(
      Array.from({ length: 1000 }, (_, f) => writeFile(join(root, 'node_modules', 'pkg', `m${f}.js`), '')),
    );

    const counters: WalkCounters = { directoriesRead: 0, stats: 0 };
    const started = performance.now();
    const got = await collect(root, { exclude: ['node_modules', '**/f9*.txt', '!src/d1/f99.txt'], counters });
    const ms = performance.now() - started;
    const files = got.filter((e) => e.type === 'file');
    // f9, f90..f99 = 11 excluded per directory, one brought back.
    assert.equal(files.length, 50 * 89 + 1);
    assert.equal(counters.directoriesRead, 52); // root, src, 50 dirs; never node_modules
    assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
  });
});

describe('PatternMatcher details', () => {
  it('couldMatchInside looks at the leading plain segments', () => {
    const [deep, star, lit, leadingWild] = new PatternMatcher(['src/**/*.md', 'a/*', 'x/y', '*/z']).patterns;
    assert.equal(deep?.couldMatchInside('node_modules'), false);
    assert.equal(deep?.couldMatchInside('src'), true);
    assert.equal(deep?.couldMatchInside('src/a/b'), true);
    assert.equal(star?.couldMatchInside('a'), true);
    assert.equal(lit?.couldMatchInside('x'), true);
    assert.equal(lit?.couldMatchInside('x/y'), false);
    assert.equal(leadingWild?.couldMatchInside('anything'), true);
  });

  it('matchesUsingParentResults carries a directory hit to its entries', () => {
    const m = new PatternMatcher(['foo', '!foo/bar']);
    const dir = m.matchesUsingParentResults('foo');
    assert.equal(dir.matched, true);
    assert.equal(m.matchesUsingParentResults('foo/bar', dir.info).matched, false);
    assert.equal(m.matchesUsingParentResults('foo/baz', dir.info).matched, true);
    assert.throws(() => m.matchesUsingParentResults('x', [true]), BuilderError);
  });

  it('character classes take RE2 meanings: POSIX names, \\d, negation, ranges', () => {
    const m = (p: string, path: string) => new PatternMatcher([p]).matchesOrParentMatches(path);
    assert.equal(m('[[:digit:]]*.log', '1.log'), true);
    assert.equal(m('[[:digit:]]*.log', 'a.log'), false);
    assert.equal(m('[^[:alpha:]]', '1'), true);
    assert.equal(m('[[:^alpha:]]', 'a'), false);
    assert.equal(m('v\\d', 'v7'), true);
    assert.equal(m('[a-ζ]', 'β'), true);
    assert.equal(m('a^b*', 'ab'), false); // `^` is an anchor upstream, so this never matches
    assert.throws(() => m('[[:nope:]]', 'a'), /syntax error/);
    assert.throws(() => m('a\\pL', 'a'), /syntax error/);
  });
});
