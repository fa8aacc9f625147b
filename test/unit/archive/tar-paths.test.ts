import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeEntryPath } from '../../../src/archive/tar-writer.js';

/** The rule written out the long way: what the writer's fast path must agree with. */
function reference(path: string, isDir: boolean): string | 'throws' {
  if (path.includes('\0') || path.startsWith('/')) return 'throws';
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..') || parts.length === 0) return 'throws';
  return isDir ? `${parts.join('/')}/` : parts.join('/');
}

test('normalizeEntryPath: every combination of awkward segments, files and directories', () => {
  const segments = ['a', '.', '..', '', '.a', '..a', 'a.', '...', 'x\0y', 'caf\u00e9'];
  const paths = new Set<string>(['', '/', '//', 'a', 'a/b']);
  for (const x of segments) {
    paths.add(x);
    paths.add(`/${x}`);
    for (const y of segments) {
      paths.add(`${x}/${y}`);
      for (const z of segments) paths.add(`${x}/${y}/${z}`);
    }
  }
  for (const path of paths) {
    for (const isDir of [false, true]) {
      const want = reference(path, isDir);
      if (want === 'throws') assert.throws(() => normalizeEntryPath(path, isDir), JSON.stringify(path));
      else assert.equal(normalizeEntryPath(path, isDir), want, JSON.stringify(path));
    }
  }
});
