// Runs BuildKit's shell-lexer tables (shared/conformance/shell-lexer) against ShellLexer: every
// line of envVarTest and wordsTest, and every group of extra-cases.json, one test each.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isGoSpace } from '../../src/dockerfile/shell/go-text.js';
import {
  type EnvGetter,
  envFromList,
  envFromRecord,
  ShellLexer,
  ShellPattern,
} from '../../src/dockerfile/shell/index.js';
import { DockerfileError } from '../../src/errors.js';
import { readConformanceJson, readConformanceText } from '../helpers/conformance.js';

/** Go's strings.TrimSpace, as the upstream test reads the tables (JS trim() also strips U+FEFF). */
function goTrim(text: string): string {
  const chars = Array.from(text);
  let start = 0;
  let end = chars.length;
  while (start < end && isGoSpace(chars[start] as string)) start++;
  while (end > start && isGoSpace(chars[end - 1] as string)) end--;
  return chars.slice(start, end).join('');
}

function goTrimStart(text: string): string {
  const chars = Array.from(text);
  let start = 0;
  while (start < chars.length && isGoSpace(chars[start] as string)) start++;
  return chars.slice(start).join('');
}

const lexer = new ShellLexer();

describe('envVarTest (single-word expansion)', async () => {
  const text = await readConformanceText('shell-lexer', 'envVarTest');
  const env = { PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' };
  const linux = envFromRecord(env);
  // `W` lines pin Windows behaviour, where names are case-insensitive: run them that way.
  const windows = envFromList(
    Object.entries(env).map(([k, v]) => `${k}=${v}`),
    { caseInsensitive: true },
  );
  let count = 0;
  for (const [index, line] of text.split('\n').entries()) {
    if (line.startsWith('#') || goTrim(line) === '') continue;
    const parts = goTrim(line).split('|');
    it(`line ${index + 1}: ${line.trimEnd()}`, () => {
      assert.equal(parts.length, 3, 'a table line has three columns');
      const [platform, source, expected] = parts.map(goTrim) as [string, string, string];
      assert.ok(['A', 'U', 'W'].includes(platform), `platform ${platform}`);
      const envFor = platform === 'W' ? windows : linux;
      if (expected === 'error') {
        assert.throws(() => lexer.processWord(source, envFor), DockerfileError);
      } else {
        assert.equal(lexer.processWord(source, envFor), expected);
      }
    });
    count++;
  }
  it('read every test line', () => assert.ok(count > 200, `only ${count} lines`));
});

describe('wordsTest (expansion + word splitting)', async () => {
  const text = await readConformanceText('shell-lexer', 'wordsTest');
  const envList: string[] = [];
  let count = 0;
  for (const [index, line] of text.split('\n').entries()) {
    if (line === '' && index === text.split('\n').length - 1) continue; // after the final newline
    if (line.startsWith('#')) continue;
    if (line.startsWith('ENV ')) {
      const rest = line.slice(4).replace(/^ +/, '');
      const eq = rest.indexOf('=');
      envList.push(`${rest.slice(0, eq)}=${rest.slice(eq + 1)}`);
      continue;
    }
    const env = envFromList([...envList]);
    it(`line ${index + 1}: ${line}`, () => {
      const parts = line.split('|');
      assert.equal(parts.length, 2, 'a test line has two columns');
      const input = goTrim(parts[0] as string);
      const expected = goTrimStart(parts[1] as string).split(',');
      if (expected.length === 1 && expected[0] === 'error') {
        assert.throws(() => lexer.processWords(input, env), DockerfileError);
      } else {
        assert.deepEqual(lexer.processWords(input, env), expected);
      }
    });
    count++;
  }
  it('read every test line', () => assert.ok(count >= 20, `only ${count} lines`));
});

interface MatchCase {
  input: string;
  env: Record<string, string>;
  expect?: string;
  matched?: string[];
  unmatched?: string[];
  expectError?: boolean;
}
interface ExtraCases {
  processWordWithMatches: { cases: MatchCase[] };
  mandatoryVars: { cases: { input: string; env: string[]; expect?: string; expectErrorContains?: string }[] };
  platformRelease: { input: string; cases: { env: Record<string, string>; expect: string }[] };
  envList: { cases: { env: string[]; lookup: string; expect: string }[] };
  internalPatternToRegex: {
    toRegexAnchoredGreedy: { pattern: string; regex: string }[];
    toRegexInvalid: string[];
    reversePattern: { input: string; expect: string }[];
    reverseString: { input: string; expect: string }[];
  };
}

describe('extra-cases.json', async () => {
  const extra = await readConformanceJson<ExtraCases>('shell-lexer', 'extra-cases.json');

  describe('processWordWithMatches', () => {
    for (const [i, c] of extra.processWordWithMatches.cases.entries()) {
      it(`${i + 1}: ${c.input} with ${JSON.stringify(c.env)}`, () => {
        const env = envFromRecord(c.env);
        if (c.expectError === true) {
          assert.throws(() => lexer.processWordWithMatches(c.input, env), DockerfileError);
          return;
        }
        const got = lexer.processWordWithMatches(c.input, env);
        assert.equal(got.result, c.expect);
        assert.deepEqual([...got.matched].sort(), [...(c.matched ?? [])].sort());
        assert.deepEqual([...got.unmatched].sort(), [...(c.unmatched ?? [])].sort());
      });
    }
  });

  describe('mandatoryVars', () => {
    for (const [i, c] of extra.mandatoryVars.cases.entries()) {
      it(`${i + 1}: ${c.input} with ${JSON.stringify(c.env)}`, () => {
        const env = envFromList(c.env);
        if (c.expectErrorContains !== undefined) {
          const contains = c.expectErrorContains;
          assert.throws(
            () => lexer.processWord(c.input, env),
            (err: unknown) => err instanceof DockerfileError && err.message.includes(contains),
          );
        } else {
          assert.equal(lexer.processWord(c.input, env), c.expect);
        }
      });
    }
  });

  describe('platformRelease', () => {
    for (const [i, c] of extra.platformRelease.cases.entries()) {
      it(`${i + 1}: ${JSON.stringify(c.env)}`, () => {
        assert.equal(lexer.processWord(extra.platformRelease.input, envFromRecord(c.env)), c.expect);
      });
    }
  });

  describe('envList', () => {
    for (const [i, c] of extra.envList.cases.entries()) {
      it(`${i + 1}: ${c.lookup} in ${JSON.stringify(c.env)}`, () => {
        const env: EnvGetter = envFromList(c.env);
        assert.equal(env.get(c.lookup) ?? '', c.expect);
      });
    }
  });

  // These cases describe BuildKit's internal pattern→regexp helper and the reversal trick it uses
  // for suffixes. ShellPattern builds JS regexps of its own and scans suffixes directly, so each
  // case is checked for the behaviour it stands for, not for the regexp text.
  describe('internalPatternToRegex (by behaviour)', () => {
    const internal = extra.internalPatternToRegex;
    const samples = (pattern: string): string[] => {
      const literal = pattern.replace(/\\(.)/gu, '$1');
      const bases = [
        literal,
        literal.replace(/[*?]/g, 'x'),
        `${literal}tail`,
        `x${literal}`,
        '',
        'abc',
        '(\\',
      ];
      return [...new Set([...bases, ...bases.map((s) => s.slice(0, -1))])];
    };

    for (const c of internal.toRegexAnchoredGreedy) {
      it(`anchored greedy ${c.pattern} behaves as /${c.regex}/`, () => {
        const oracle = new RegExp(c.regex, 'u');
        const ours = new ShellPattern(c.pattern);
        for (const s of samples(c.pattern)) {
          const m = oracle.exec(s);
          // `##` removes what the greedy anchored regexp matches.
          assert.equal(
            ours.trimPrefix(s, true),
            m === null ? s : s.slice(m[0].length),
            `on ${JSON.stringify(s)}`,
          );
        }
      });
    }

    for (const pattern of internal.toRegexInvalid) {
      it(`invalid ${pattern}`, () => {
        assert.throws(() => new ShellPattern(pattern), /invalid pattern .* in substitution: invalid escape/);
      });
    }

    const reverse = (s: string) => Array.from(s).reverse().join('');
    for (const c of internal.reverseString) {
      it(`code-point reversal of ${c.input}`, () => assert.equal(reverse(c.input), c.expect));
    }

    // What reversal must preserve: `input` matches a string exactly when `expect` matches it reversed.
    for (const c of internal.reversePattern) {
      it(`reversed pattern ${c.input} → ${c.expect}`, () => {
        let forward: ShellPattern;
        try {
          forward = new ShellPattern(c.input);
        } catch {
          assert.throws(() => new ShellPattern(c.expect), 'both or neither are valid');
          return;
        }
        const backward = new ShellPattern(c.expect);
        for (const s of [...samples(c.input), ...samples(c.expect).map(reverse)]) {
          const fullForward = forward.trimPrefix(s, true) === '' && forward.trimSuffix(s, true) === '';
          const fullBackward =
            backward.trimPrefix(reverse(s), true) === '' && backward.trimSuffix(reverse(s), true) === '';
          assert.equal(fullForward, fullBackward, `on ${JSON.stringify(s)}`);
        }
      });
    }
  });
});
