// The .dockerignore reader and which file a build uses.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadIgnorePatterns, parseIgnoreFile, parseIgnoreFileEntries } from '../../../src/context/index.js';
import { DockerfileError } from '../../../src/errors.js';

const scratch = await mkdtemp(join(tmpdir(), 'strata-ignore-unit-'));
after(() => rm(scratch, { recursive: true, force: true }));
let n = 0;

async function context(files: Record<string, string>): Promise<string> {
  const root = join(scratch, `ctx-${n++}`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  await mkdir(root, { recursive: true });
  return root;
}

describe('parseIgnoreFile', () => {
  it('comments only at column 0, CRLF, BOM, trimming, `!`, leading `/`, cleaning', () => {
    const text = '\uFEFF# comment\r\n  # not a comment\r\n/a/./b/../c/\r\n!  /d//e \r\n\t\r\nf\\ g\n';
    assert.deepEqual(parseIgnoreFile(text), ['# not a comment', 'a/c', '!d/e', 'f\\ g']);
  });

  it('a BOM counts only on the first line', () => {
    assert.deepEqual(parseIgnoreFile('a\n\uFEFFb'), ['a', '\uFEFFb']);
  });

  it('keeps `/` alone and a bare `!`', () => {
    assert.deepEqual(parseIgnoreFile('/\n!\n! /\n'), ['/', '!', '!/']);
  });

  it('reports line numbers', () => {
    assert.deepEqual(
      parseIgnoreFileEntries('a\n\n# c\n b \n').map((e) => [e.line, e.pattern, e.text]),
      [
        [1, 'a', 'a'],
        [4, 'b', ' b '],
      ],
    );
  });
});

describe('loadIgnorePatterns', () => {
  it('reads <context>/.dockerignore', async () => {
    const root = await context({ '.dockerignore': 'node_modules\n*.log\n' });
    assert.deepEqual(await loadIgnorePatterns(root), {
      patterns: ['node_modules', '*.log'],
      file: join(root, '.dockerignore'),
    });
  });

  it('returns no patterns when there is no file', async () => {
    const root = await context({ Dockerfile: 'FROM scratch\n' });
    assert.deepEqual(await loadIgnorePatterns(root, join(root, 'Dockerfile')), {
      patterns: [],
      file: undefined,
    });
  });

  it('<Dockerfile>.dockerignore next to the Dockerfile wins over the context one', async () => {
    const root = await context({
      '.dockerignore': 'context-wide\n',
      'Dockerfile.dockerignore': 'bar\n',
      'Dockerfile2.dockerignore': 'foo\n',
      'build/app.Dockerfile.dockerignore': 'from-build-dir\n',
    });
    assert.deepEqual((await loadIgnorePatterns(root, join(root, 'Dockerfile'))).patterns, ['bar']);
    assert.deepEqual((await loadIgnorePatterns(root, join(root, 'Dockerfile2'))).patterns, ['foo']);
    assert.deepEqual((await loadIgnorePatterns(root, join(root, 'build', 'app.Dockerfile'))).patterns, [
      'from-build-dir',
    ]);
    // No per-Dockerfile file: the context's applies.
    assert.deepEqual((await loadIgnorePatterns(root, join(root, 'Dockerfile3'))).patterns, ['context-wide']);
    assert.deepEqual((await loadIgnorePatterns(root)).patterns, ['context-wide']);
  });

  it('an empty per-Dockerfile file still wins (it exists)', async () => {
    const root = await context({ '.dockerignore': 'x\n', 'Dockerfile.dockerignore': '' });
    assert.deepEqual(await loadIgnorePatterns(root, join(root, 'Dockerfile')), {
      patterns: [],
      file: join(root, 'Dockerfile.dockerignore'),
    });
  });

  it('a directory named .dockerignore is no ignore file', async () => {
    const root = await context({ '.dockerignore/x': '' });
    assert.deepEqual(await loadIgnorePatterns(root), { patterns: [], file: undefined });
  });

  it('a lone `!` fails with the file and line', async () => {
    const root = await context({ '.dockerignore': 'ok\n!\n' });
    await assert.rejects(loadIgnorePatterns(root), (err: unknown) => {
      assert.ok(err instanceof DockerfileError);
      assert.equal(err.code, 'EINVAL');
      assert.equal(err.message, 'illegal exclusion pattern: "!"');
      assert.equal(err.file, join(root, '.dockerignore'));
      assert.deepEqual(err.ranges, [{ start: { line: 2, character: 0 }, end: { line: 2, character: 1 } }]);
      assert.equal(err.source, 'ok\n!\n');
      return true;
    });
  });

  it('an invalid `!` in the per-Dockerfile file fails too, even if the context one is fine', async () => {
    const root = await context({ '.dockerignore': 'fine\n', 'Dockerfile.dockerignore': '\n! \n' });
    await assert.rejects(
      loadIgnorePatterns(root, join(root, 'Dockerfile')),
      (err: unknown) => err instanceof DockerfileError && err.file === join(root, 'Dockerfile.dockerignore'),
    );
  });

  it('a syntax error names the pattern', async () => {
    const root = await context({ '.dockerignore': 'a[\n' });
    await assert.rejects(loadIgnorePatterns(root), /syntax error in pattern "a\["/);
  });
});
