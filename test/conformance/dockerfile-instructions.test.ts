// The layer above the parser, graded by BuildKit's instruction-conversion tables
// (dockerfile-parser/extra-cases.json → instructionErrors).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDockerfile } from '../../src/dockerfile/index.js';
import { convertNode } from '../../src/dockerfile/instructions/convert.js';
import { parseFlags } from '../../src/dockerfile/instructions/flags.js';
import type { InstructionNode } from '../../src/dockerfile/parser/ast.js';
import { parse } from '../../src/dockerfile/parser/parse.js';
import { DockerfileError } from '../../src/errors.js';
import { readConformanceJson } from '../helpers/conformance.js';

interface Tables {
  instructionErrors: {
    cases: { dockerfile: string; expectError: string }[];
    astCases: { ast: string[]; expectError?: string; expectHealthTest?: string[] }[];
    other: {
      dockerfile?: string;
      expectFlagsUsed?: string[];
      healthcheckInterval?: string;
      expectErrorContains?: string;
      expectOk?: boolean;
    }[];
  };
}

const tables = await readConformanceJson<Tables>('dockerfile-parser', 'extra-cases.json');
const { cases, astCases, other } = tables.instructionErrors;

function nodeOf(ast: string[]): InstructionNode {
  const [keyword, ...args] = ast;
  return {
    keyword: keyword as string,
    flags: [],
    args,
    json: false,
    heredocs: [],
    original: ast.join(' '),
    startLine: 1,
    endLine: 1,
    comments: [],
  };
}

describe('instruction errors (instructions/parse_test.go)', () => {
  for (const c of cases) {
    test(JSON.stringify(c.dockerfile), () => {
      const nodes = parse(c.dockerfile).nodes;
      assert.ok(nodes.length > 0, 'the parser accepts it');
      assert.throws(
        () => convertNode(nodes[0] as InstructionNode),
        (err: unknown) => err instanceof DockerfileError && err.message.includes(c.expectError),
      );
    });
  }
  for (const c of astCases) {
    test(`ast ${JSON.stringify(c.ast)}`, () => {
      if (c.expectError !== undefined) {
        assert.throws(
          () => convertNode(nodeOf(c.ast)),
          (err: unknown) => err instanceof Error && err.message.includes(c.expectError as string),
        );
      } else {
        const i = convertNode(nodeOf(c.ast));
        assert.equal(i.kind, 'healthcheck');
        assert.deepEqual(i.kind === 'healthcheck' && i.test, c.expectHealthTest);
      }
    });
  }
  for (const c of other) {
    if (c.dockerfile !== undefined) {
      test(`flags used: ${c.dockerfile}`, () => {
        const node = parse(c.dockerfile as string).nodes[0] as InstructionNode;
        const used = parseFlags(node.flags, { mount: 'list', network: 'string', security: 'string' }).used;
        assert.deepEqual(used, c.expectFlagsUsed);
        assert.equal(convertNode(node).kind, 'run');
      });
    } else {
      test(`healthcheck --interval=${c.healthcheckInterval}`, () => {
        const text = `HEALTHCHECK --interval=${c.healthcheckInterval} CMD true`;
        const node = parse(text).nodes[0] as InstructionNode;
        if (c.expectOk) assert.equal(convertNode(node).kind, 'healthcheck');
        else
          assert.throws(
            () => convertNode(node),
            (err: unknown) => err instanceof Error && err.message.includes(c.expectErrorContains as string),
          );
      });
    }
  }
});

test('a whole Dockerfile error carries file, line and source for the caret', () => {
  const text = 'FROM busybox\n\nRUNN echo hi\n';
  assert.throws(
    () => parseDockerfile(text, { file: 'Dockerfile.dev' }),
    (err: unknown) =>
      err instanceof DockerfileError &&
      err.file === 'Dockerfile.dev' &&
      err.source === text &&
      err.ranges[0]?.start.line === 3 &&
      /unknown instruction: RUNN \(did you mean RUN\?\)/.test(err.message),
  );
});
