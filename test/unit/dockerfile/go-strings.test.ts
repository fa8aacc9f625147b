// Go's character classes as the parser spells them (src/dockerfile/parser/go-strings.ts):
// White_Space written out, letters and digits made on first use, checked here against the
// Unicode property escapes V8 knows, over every code point.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isGoDigit,
  isGoLetter,
  isGoSpace,
  trimGoSpace,
  trimLeftGoSpace,
} from '../../../src/dockerfile/parser/go-strings.js';

const space = /^\p{White_Space}$/u;
const letter = /^\p{L}$/u;
const digit = /^\p{Nd}$/u;

test('isGoSpace, isGoLetter and isGoDigit agree with \\p{White_Space}, \\p{L} and \\p{Nd} for every code point', () => {
  const wrong: string[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue; // lone surrogates are not code points of a string
    const ch = String.fromCodePoint(cp);
    if (isGoSpace(ch) !== space.test(ch)) wrong.push(`space U+${cp.toString(16)}`);
    if (isGoLetter(ch) !== letter.test(ch)) wrong.push(`letter U+${cp.toString(16)}`);
    if (isGoDigit(ch) !== digit.test(ch)) wrong.push(`digit U+${cp.toString(16)}`);
  }
  assert.deepEqual(wrong.slice(0, 20), []);
});

test('trimming takes every White_Space code point, and nothing else (U+FEFF stays, as in Go)', () => {
  const all = '\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000';
  assert.equal(trimGoSpace(`${all}x y${all}`), 'x y');
  assert.equal(trimLeftGoSpace(`${all}x `), 'x ');
  assert.equal(trimGoSpace('\ufeffx\ufeff'), '\ufeffx\ufeff');
});
