// The Dockerfile parser graded against BuildKit's own test data (shared/conformance/
// dockerfile-parser): golden dumps, inputs that must fail, and the Go test tables transcribed
// in extra-cases.json. A missing corpus fails this file; nothing is skipped.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { DetectedDirective } from '../../src/dockerfile/parser/index.js';
import {
  chompHeredoc,
  detectSyntax,
  dump,
  heredocsFromLine,
  NOT_STRING_ARRAY,
  parse,
  parseDirective,
  parseDirectives,
  parseHeredoc,
  parseJsonArray,
  parseWords,
} from '../../src/dockerfile/parser/index.js';
import { DockerfileError } from '../../src/errors.js';
import { conformancePath, readConformanceJson, readConformanceText } from '../helpers/conformance.js';

const CORPUS = 'dockerfile-parser';

function caseNames(group: 'positive' | 'negative'): string[] {
  return readdirSync(conformancePath(CORPUS, group), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** The messages the reference parser gives for each negative case (corpus README). */
const NEGATIVE_MESSAGES: Readonly<Record<string, string>> = {
  empty_dockerfile: 'file with no instructions',
  only_comments: 'file with no instructions',
  env_no_value: 'ENV must have two arguments',
  'shykes-nested-json': NOT_STRING_ARRAY,
};

function assertDockerfileError(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DockerfileError, `expected a DockerfileError, got ${String(err)}`);
    assert.ok(
      err.message.includes(message),
      `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(message)}`,
    );
    return true;
  });
}

interface ExpectedHeredoc {
  name: string;
  fileDescriptor: number;
  expand: boolean;
  chomp: boolean;
  content: string;
}

interface DirectiveCase {
  input: string;
  found?: boolean;
  ref?: string;
  cmdline?: string;
  line?: number;
  expect?: { name: string; value: string }[];
}

interface ExtraCases {
  heredocExtraction: {
    dockerfile: string;
    children: { child: number; line: string; heredocs: ExpectedHeredoc[] | null }[];
  };
  heredocJsonFormIgnored: { dockerfile: string };
  heredocChomp: { cases: { input: string; expect: string }[] };
  heredocWord: { valid: string[]; invalid: string[]; notHeredoc: string[] };
  heredocsFromLine: { cases: { line: string; names: string[] | null }[] };
  jsonArrays: {
    valid: { input: string; expect: string[] }[];
    invalidNonString: string[];
    errorMessage: string;
  };
  parseWords: { cases: { input: string; expect: string[] }[] };
  nameValue: {
    cases: { instruction: string; args: string; expectValues?: string[]; expectError?: string }[];
  };
  lineNumbers: {
    dockerfile: string;
    expect: { rootStartLine: number; rootEndLine: number; children: [number, number][] };
  };
  emptyContinuationWarnings: {
    dockerfile: string;
    expect: {
      parseSucceeds: boolean;
      warningCount: number;
      warningShortContains: string[][];
      warningDetailContains: string;
    };
  };
  lineTooLong: { input: string; expectError: string };
  directives: {
    parseAll: DirectiveCase[];
    detectSyntax: DirectiveCase[];
    parseDirectiveCheck: DirectiveCase[];
  };
}

const extra = await readConformanceJson<ExtraCases>(CORPUS, 'extra-cases.json');

/** Paths in extra-cases.json are relative to the corpus folder. */
function readCorpusFile(relative: string): Promise<string> {
  return readConformanceText(CORPUS, ...relative.split('/'));
}

describe('dockerfile parser: positive cases (dump equals result)', () => {
  const names = caseNames('positive');
  it('has cases', () => assert.ok(names.length > 0, 'no positive cases found'));
  for (const name of names) {
    it(name, async () => {
      const source = await readConformanceText(CORPUS, 'positive', name, 'Dockerfile');
      const expected = await readConformanceText(CORPUS, 'positive', name, 'result');
      assert.equal(`${dump(parse(source).nodes)}\n`, expected);
    });
  }
});

describe('dockerfile parser: negative cases (parse fails)', () => {
  const names = caseNames('negative');
  it('has cases', () => assert.ok(names.length > 0, 'no negative cases found'));
  for (const name of names) {
    it(name, async () => {
      const message = NEGATIVE_MESSAGES[name];
      assert.ok(message !== undefined, `no reference message known for negative case ${name}`);
      const source = await readConformanceText(CORPUS, 'negative', name, 'Dockerfile');
      assertDockerfileError(() => parse(source), message);
    });
  }
});

describe('dockerfile parser: extra cases', () => {
  it('heredocExtraction', async () => {
    const { nodes } = parse(await readCorpusFile(extra.heredocExtraction.dockerfile));
    for (const { child, line, heredocs } of extra.heredocExtraction.children) {
      const node = nodes[child];
      assert.ok(node !== undefined, `no instruction ${child}`);
      assert.equal(node.original, line, `instruction ${child}`);
      const actual = node.heredocs.map(({ name, fileDescriptor, expand, chomp, content }) => ({
        name,
        fileDescriptor,
        expand,
        chomp,
        content,
      }));
      assert.deepEqual(actual, heredocs ?? [], `heredocs of instruction ${child} (${line})`);
    }
  });

  it('heredocJsonFormIgnored', () => {
    const { nodes } = parse(extra.heredocJsonFormIgnored.dockerfile);
    assert.equal(nodes.length, 4);
    for (const node of nodes.slice(1)) {
      assert.equal(node.json, true, node.original);
      assert.deepEqual(node.heredocs, [], node.original);
    }
  });

  it('heredocChomp', () => {
    for (const { input, expect } of extra.heredocChomp.cases) assert.equal(chompHeredoc(input), expect);
  });

  it('heredocWord', () => {
    for (const word of extra.heredocWord.valid) assert.equal(parseHeredoc(word)?.name, 'EOF', word);
    for (const word of extra.heredocWord.invalid)
      assert.throws(() => parseHeredoc(word), DockerfileError, word);
    for (const word of extra.heredocWord.notHeredoc) assert.equal(parseHeredoc(word), undefined, word);
  });

  it('heredocsFromLine', () => {
    for (const { line, names } of extra.heredocsFromLine.cases) {
      assert.deepEqual(
        heredocsFromLine(line).map((h) => h.name),
        names ?? [],
        line,
      );
    }
  });

  it('jsonArrays', () => {
    for (const { input, expect } of extra.jsonArrays.valid) {
      assert.deepEqual(parseJsonArray(input), expect, input);
      const node = parse(`CMD ${input}`).nodes[0]!;
      assert.equal(node.json, true, input);
      assert.deepEqual(node.args, expect, input);
    }
    for (const input of extra.jsonArrays.invalidNonString) {
      assertDockerfileError(() => parseJsonArray(input), extra.jsonArrays.errorMessage);
      assertDockerfileError(() => parse(`CMD ${input}`), extra.jsonArrays.errorMessage);
    }
  });

  it('parseWords', () => {
    for (const { input, expect } of extra.parseWords.cases)
      assert.deepEqual(parseWords(input), expect, input);
  });

  it('nameValue', () => {
    for (const { instruction, args, expectValues, expectError } of extra.nameValue.cases) {
      const line = `${instruction} ${args}`;
      if (expectError !== undefined) assertDockerfileError(() => parse(line), expectError);
      else assert.deepEqual(parse(line).nodes[0]?.args, expectValues, line);
    }
  });

  it('lineNumbers', async () => {
    const { expect } = extra.lineNumbers;
    const { nodes } = parse(await readCorpusFile(extra.lineNumbers.dockerfile));
    assert.deepEqual(
      nodes.map((n) => [n.startLine, n.endLine]),
      expect.children,
    );
    assert.equal(nodes[0]?.startLine, expect.rootStartLine);
    assert.equal(nodes.at(-1)?.endLine, expect.rootEndLine);
  });

  it('emptyContinuationWarnings', async () => {
    const { expect } = extra.emptyContinuationWarnings;
    assert.equal(expect.parseSucceeds, true);
    const { warnings } = parse(await readCorpusFile(extra.emptyContinuationWarnings.dockerfile));
    assert.equal(warnings.length, expect.warningCount);
    expect.warningShortContains.forEach((parts, i) => {
      for (const part of parts) assert.ok(warnings[i]?.short.includes(part), `warning ${i} lacks ${part}`);
      assert.ok(warnings[i]?.detail.some((d) => d.includes(expect.warningDetailContains)));
    });
  });

  it('lineTooLong', () => {
    // The input is described, not stored: `"<json string>" + N x 'c' + "<json string>"`.
    const match = /^(".*") \+ (\d+) x '(.)' \+ (".*")$/.exec(extra.lineTooLong.input);
    assert.ok(match !== null, `unexpected lineTooLong.input ${extra.lineTooLong.input}`);
    const input =
      (JSON.parse(match[1]!) as string) +
      match[3]!.repeat(Number(match[2])) +
      (JSON.parse(match[4]!) as string);
    assertDockerfileError(() => parse(input), extra.lineTooLong.expectError);
  });

  describe('directives', () => {
    const checkDetected = (c: DirectiveCase, actual: DetectedDirective | undefined): void => {
      if (c.found !== true) {
        assert.equal(actual, undefined, c.input);
        return;
      }
      assert.ok(actual !== undefined, `not found in ${JSON.stringify(c.input)}`);
      if (c.ref !== undefined) assert.equal(actual.ref, c.ref, c.input);
      if (c.cmdline !== undefined) assert.equal(actual.cmdline, c.cmdline, c.input);
      if (c.line !== undefined) assert.equal(actual.line, c.line, c.input);
    };

    it('parseAll', () => {
      for (const c of extra.directives.parseAll) {
        assert.deepEqual(
          parseDirectives(c.input).map(({ name, value }) => ({ name, value })),
          c.expect,
          c.input,
        );
      }
    });

    it('detectSyntax', () => {
      for (const c of extra.directives.detectSyntax) checkDetected(c, detectSyntax(c.input));
    });

    it('parseDirectiveCheck', () => {
      for (const c of extra.directives.parseDirectiveCheck)
        checkDetected(c, parseDirective('check', c.input));
    });
  });
});
