import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanPath } from '../../../src/build/steps/config.js';
import { isClean } from '../../../src/build/steps/copy-dest.js';

test('isClean is exactly "absolute and cleanPath leaves it as it is"', () => {
  const segments = ['a', '.', '..', '', '.a', '..a', 'a.', 'a..', '...', 'b c'];
  const paths = new Set<string>(['', '/', '//', 'a', 'a/b']);
  for (const x of segments) {
    paths.add(`/${x}`);
    for (const y of segments) {
      paths.add(`/${x}/${y}`);
      paths.add(`${x}/${y}`);
      for (const z of segments) paths.add(`/${x}/${y}/${z}`);
    }
  }
  for (const p of paths) assert.equal(isClean(p), p.startsWith('/') && cleanPath(p) === p, JSON.stringify(p));
});
