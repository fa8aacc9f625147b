// Runs the .dockerignore corpus (shared/conformance/dockerignore): patternmatcher's cases, the
// ignore-file reader, the informative compile table, fsutil's walk cases (real trees in a temp
// dir), and the context half of BuildKit's .dockerignore builds.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ContextFilter,
  type ContextFilterOptions,
  goClean,
  legacyMatches,
  loadIgnorePatterns,
  PatternMatcher,
  parseIgnoreFile,
  walkContext,
} from '../../src/context/index.js';
import { BuilderError } from '../../src/errors.js';
import { readConformanceJson } from '../helpers/conformance.js';

interface MatchCase {
  id: string;
  api: 'MatchesOrParentMatches' | 'Matches';
  patterns: string[];
  path: string;
  expectMatch?: boolean;
  expectError?: string;
  repeat?: number;
}
interface Cases {
  cases: MatchCase[];
  patternLists: {
    cases: {
      patterns: string[];
      expectPatternCount?: number;
      expectHasExclusions?: boolean;
      expectError?: string;
    }[];
  };
  ignoreFile: { cases: { content: string; expect: string[] }[] };
  compile: { cases: { pattern: string; matchType: string; regexSlash?: string }[] };
}
interface WalkCase {
  id: string;
  tree: { path: string; type: 'file' | 'dir' }[];
  include?: string[];
  exclude?: string[];
  layers?: ContextFilterOptions[];
  expectWalk?: string[];
  open?: Record<string, 'ok' | 'not-exist'>;
  expectError?: boolean;
}
interface ContextBuild {
  id: string;
  context: Record<string, string>;
  expectInImage?: Record<string, string>;
  expectAbsent?: string[];
  expectBuildError?: boolean;
  builds?: { dockerfile: string; expectSuccess: boolean }[];
}
interface WalkCases {
  cases: WalkCase[];
  buildkitContextBuilds: { cases: ContextBuild[] };
}

const corpus = await readConformanceJson<Cases>('dockerignore', 'cases.json');
const walkCorpus = await readConformanceJson<WalkCases>('dockerignore', 'walk-cases.json');

const scratch = await mkdtemp(join(tmpdir(), 'strata-dockerignore-'));
after(() => rm(scratch, { recursive: true, force: true }));
let treeCount = 0;

async function makeTree(
  entries: { path: string; type: 'file' | 'dir'; content?: string }[],
): Promise<string> {
  const root = join(scratch, `tree-${treeCount++}`);
  await mkdir(root);
  for (const e of entries) {
    const abs = join(root, e.path);
    if (e.type === 'dir') {
      await mkdir(abs, { recursive: true });
    } else {
      await mkdir(dirname(abs), { recursive: true });
      await writeFile(abs, e.content ?? '');
    }
  }
  return root;
}

async function walkLines(root: string, options: Parameters<typeof walkContext>[1]): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of walkContext(root, options)) out.push(`${entry.type} ${entry.path}`);
  return out;
}

function expectThrowsWith(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof BuilderError, 'a BuilderError');
    assert.ok(
      err.message.startsWith(message),
      `${JSON.stringify(err.message)} starts with ${JSON.stringify(message)}`,
    );
    return true;
  });
}

describe('cases.json: cases', () => {
  for (const c of corpus.cases) {
    it(`${c.id}: ${JSON.stringify(c.patterns)} ${JSON.stringify(c.path)}`, () => {
      if (c.api === 'Matches') {
        if (c.expectError !== undefined) {
          expectThrowsWith(() => legacyMatches(c.path, c.patterns), c.expectError);
        } else {
          assert.equal(legacyMatches(c.path, c.patterns), c.expectMatch);
          // The README's claim: the current semantics agree on these, after cleaning.
          const cleaned = goClean(c.path);
          const current =
            cleaned === '.' ? false : new PatternMatcher(c.patterns).matchesOrParentMatches(cleaned);
          assert.equal(current, c.expectMatch);
        }
        return;
      }
      if (c.expectError !== undefined) {
        const message = c.expectError;
        const matcher = (() => {
          try {
            return new PatternMatcher(c.patterns);
          } catch (err) {
            expectThrowsWith(() => {
              throw err;
            }, message);
            return undefined;
          }
        })();
        // Some patterns are only found bad when used, and again on every use.
        for (let i = 0; matcher !== undefined && i < (c.repeat ?? 1); i++) {
          expectThrowsWith(() => matcher.matchesOrParentMatches(c.path), message);
        }
        return;
      }
      assert.equal(new PatternMatcher(c.patterns).matchesOrParentMatches(c.path), c.expectMatch);
    });
  }
});

describe('cases.json: patternLists', () => {
  for (const [i, c] of corpus.patternLists.cases.entries()) {
    it(`${i + 1}: ${JSON.stringify(c.patterns)}`, () => {
      if (c.expectError !== undefined) {
        expectThrowsWith(() => new PatternMatcher(c.patterns), c.expectError);
        return;
      }
      const matcher = new PatternMatcher(c.patterns);
      if (c.expectPatternCount !== undefined) assert.equal(matcher.patterns.length, c.expectPatternCount);
      if (c.expectHasExclusions !== undefined) assert.equal(matcher.hasExclusions, c.expectHasExclusions);
    });
  }
});

describe('cases.json: ignoreFile', () => {
  for (const [i, c] of corpus.ignoreFile.cases.entries()) {
    it(`${i + 1}: ${JSON.stringify(c.content)}`, () => {
      assert.deepEqual(parseIgnoreFile(c.content), c.expect);
      assert.deepEqual(parseIgnoreFile(new TextEncoder().encode(`\uFEFF${c.content}`)), c.expect);
    });
  }
});

// Informative upstream internals. Our classification is the same (exact/prefix/suffix/regexp), so it
// is compared. Our regexps are JS and differ in text (`[^\n]` for `.`, `(?:…)`), so `regexSlash`
// is used as an oracle on sample paths instead; `regexBackslash` is Windows-only and not used.
describe('cases.json: compile (informative)', () => {
  const samples = (pattern: string): string[] => {
    const fill = ['', 'x', 'x/y', 'a/b/'];
    const out = new Set<string>([pattern, 'file', 'dir/file', 'a/b', 'foo/bar', 'file.txt', 'x/file.txt']);
    for (const f of fill) {
      const concrete = pattern
        .replace(/\*\*\/?/g, f)
        .replace(/\*/g, f.replace(/\//g, ''))
        .replace(/\?/g, 'q');
      for (const s of [concrete, `d/${concrete}`, `${concrete}/e`, concrete.replace(/\[.*?\]/g, 'c')])
        out.add(s);
    }
    return [...out];
  };
  for (const c of corpus.compile.cases) {
    it(`${c.pattern} is ${c.matchType}`, () => {
      const [pattern] = new PatternMatcher([c.pattern]).patterns;
      assert.ok(pattern !== undefined);
      assert.equal(pattern.matchType, c.matchType);
      if (c.regexSlash !== undefined) {
        const oracle = new RegExp(c.regexSlash, 'u');
        for (const s of samples(c.pattern))
          assert.equal(pattern.match(s), oracle.test(s), `on ${JSON.stringify(s)}`);
      }
    });
  }
});

describe('walk-cases.json: cases', () => {
  for (const c of walkCorpus.cases) {
    it(c.id, async () => {
      const root = await makeTree(c.tree);
      const options = { include: c.include, exclude: c.exclude, layers: c.layers };
      if (c.expectError === true) {
        assert.throws(() => walkContext(root, options), BuilderError);
        assert.throws(() => new ContextFilter({ include: c.include, exclude: c.exclude }), BuilderError);
        return;
      }
      if (c.expectWalk !== undefined) assert.deepEqual(await walkLines(root, options), c.expectWalk);
      if (c.open !== undefined) {
        // Opening through the filter: every layer must allow the path, and the file must exist.
        const filters = [{ include: c.include, exclude: c.exclude }, ...(c.layers ?? [])].map(
          (o) => new ContextFilter(o),
        );
        const visible = new Set(
          (await walkLines(root, options)).map((line) => line.slice(line.indexOf(' ') + 1)),
        );
        for (const [path, want] of Object.entries(c.open)) {
          const allowed = filters.every((f) => f.allows(path)) && c.tree.some((e) => e.path === path);
          assert.equal(allowed ? 'ok' : 'not-exist', want, path);
          // What can be opened is also what the walk shows.
          assert.equal(visible.has(path), want === 'ok', `${path} in the walk`);
        }
      }
    });
  }
});

// The build itself is the engine's job; what the context walk must do for each case is checked here.
describe('walk-cases.json: buildkitContextBuilds (context selection only)', () => {
  const filesIn = async (root: string, dockerfile?: string) => {
    const { patterns } = await loadIgnorePatterns(
      root,
      dockerfile === undefined ? undefined : join(root, dockerfile),
    );
    const files: string[] = [];
    for await (const e of walkContext(root, { exclude: patterns })) if (e.type === 'file') files.push(e.path);
    return files;
  };
  const tree = (context: Record<string, string>) =>
    makeTree(Object.entries(context).map(([path, content]) => ({ path, type: 'file' as const, content })));

  for (const c of walkCorpus.buildkitContextBuilds.cases) {
    it(c.id, async () => {
      const root = await tree(c.context);
      if (c.expectBuildError === true) {
        await assert.rejects(loadIgnorePatterns(root), BuilderError);
        return;
      }
      for (const build of c.builds ?? [{ dockerfile: 'Dockerfile', expectSuccess: true }]) {
        const files = await filesIn(root, build.dockerfile);
        for (const name of Object.keys(c.expectInImage ?? {}))
          assert.ok(files.includes(name), `${name} sent`);
        for (const name of c.expectAbsent ?? []) assert.ok(!files.includes(name), `${name} not sent`);
        // `RUN [ -f foo ] && [ ! -f bar ]`: the files the build expects to find, or not.
        const dockerfile = c.context[build.dockerfile] ?? '';
        for (const m of dockerfile.matchAll(/\[ (!? ?)-f (\S+) \]/g)) {
          assert.equal(files.includes(m[2] as string), m[1] === '', `${build.dockerfile}: ${m[0]}`);
        }
      }
    });
  }
});
