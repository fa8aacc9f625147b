// Parser behaviour the conformance corpus does not pin down: error locations, heredoc and
// ONBUILD line ranges, the backtick escape, directive edge cases, limits and quoting.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dump, goQuote, heredocsFromLine, parse } from '../../../src/dockerfile/parser/index.js';
import { DockerfileError, type SourceRange } from '../../../src/errors.js';

function wholeLines(start: number, end: number): SourceRange {
  return { start: { line: start, character: 0 }, end: { line: end, character: 0 } };
}

function parseError(text: string, options?: { file?: string }): DockerfileError {
  try {
    parse(text, options);
  } catch (err) {
    assert.ok(err instanceof DockerfileError, `expected a DockerfileError, got ${String(err)}`);
    return err;
  }
  assert.fail('parse succeeded');
}

function dumpOf(text: string): string {
  return dump(parse(text).nodes);
}

describe('parse: errors carry the lines of the instruction', () => {
  it('locates a JSON array with a non-string element over its continuation lines', () => {
    const err = parseError('FROM a\nCMD ["a", \\\n  1]\n', { file: 'Dockerfile' });
    assert.equal(err.message, 'when using JSON array syntax, arrays must be comprised of strings only');
    assert.deepEqual(err.ranges, [wholeLines(2, 3)]);
    assert.equal(err.file, 'Dockerfile');
    assert.equal(err.code, 'EINVAL');
  });

  it('reports a heredoc that is never closed, up to the end of the file', () => {
    const err = parseError('FROM a\nRUN <<EOF\necho hi\nEFO\n');
    assert.equal(err.message, 'unterminated heredoc');
    assert.deepEqual(err.ranges, [wholeLines(2, 4)]);
  });

  it('locates a repeated directive and a bad escape token on their own line', () => {
    const repeated = parseError('# syntax=a\n# escape=`\n# ESCAPE=\\\nFROM a\n');
    assert.equal(repeated.message, 'only one escape parser directive can be used');
    assert.deepEqual(repeated.ranges, [wholeLines(3, 3)]);
    const bad = parseError('# escape=/\nFROM a\n');
    assert.equal(bad.message, "invalid escape token '/' does not match ` or \\");
  });

  it('rejects a file with only comments and directives', () => {
    assert.equal(parseError('# syntax=x\n# just a comment\n\n').message, 'file with no instructions');
  });

  it('names the instruction when a key/value form is broken', () => {
    assert.equal(parseError('LABEL single').message, 'LABEL must have two arguments');
    assert.equal(
      parseError('ENV a=1 b').message,
      'Syntax error - can\'t find = in "b". Must be of the form: name=value',
    );
  });
});

describe('parse: line ranges', () => {
  it('gives ONBUILD and its nested instruction the same range, continuations included', () => {
    const { nodes } = parse('FROM a\n\nONBUILD RUN echo \\\n  # inside\n  hi\nRUN x\n');
    const onbuild = nodes[1]!;
    assert.equal(onbuild.keyword, 'onbuild');
    assert.deepEqual([onbuild.startLine, onbuild.endLine], [3, 5]);
    assert.deepEqual([onbuild.child?.startLine, onbuild.child?.endLine], [3, 5]);
    assert.equal(onbuild.child?.original, 'RUN echo   hi');
    assert.deepEqual([nodes[2]!.startLine, nodes[2]!.endLine], [6, 6]);
  });

  it('counts heredoc bodies, and attaches an ONBUILD heredoc to the ONBUILD node', () => {
    const { nodes } = parse(
      'FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\nCOPY <<-A <<B /dst\n\ta\n\tA\nb\r\nB\r\n',
    );
    assert.deepEqual([nodes[1]!.startLine, nodes[1]!.endLine], [2, 4]);
    assert.deepEqual(nodes[1]!.heredocs, [
      { name: 'EOF', content: 'echo hi\n', expand: true, chomp: false, fileDescriptor: 0 },
    ]);
    assert.deepEqual([nodes[2]!.startLine, nodes[2]!.endLine], [5, 9]);
    // Bodies are kept raw (CRLF included); `<<-` only affects how the terminator is matched.
    assert.deepEqual(
      nodes[2]!.heredocs.map((h) => [h.name, h.content, h.chomp]),
      [
        ['A', '\ta\n', true],
        ['B', 'b\r\n', false],
      ],
    );
  });
});

describe('parse: escape character', () => {
  it('uses the backtick for continuations and leaves backslashes alone after # escape=`', () => {
    const result = parse(
      '# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir C:\\ `\n  && echo done\nCOPY a\\b c:\\d\\\n',
    );
    assert.equal(result.escapeToken, '`');
    assert.deepEqual(result.directives, { escape: '`' });
    assert.equal(
      dump(result.nodes),
      '(from "mcr.microsoft.com/windows")\n(run "dir C:\\\\   && echo done")\n(copy "a\\\\b" "c:\\\\d\\\\")',
    );
  });

  it('ignores a directive after a blank line or after an instruction', () => {
    assert.equal(parse('\n# escape=`\nFROM a\n').escapeToken, '\\');
    assert.equal(parse('FROM a\n# escape=`\nRUN x `\n').nodes.length, 2);
  });

  it('does not continue after an escaped escape character', () => {
    assert.equal(dumpOf('FROM a\nRUN echo \\\\\nRUN b'), '(from "a")\n(run "echo \\\\\\\\")\n(run "b")');
  });
});

describe('parse: lines', () => {
  it('handles CRLF, a BOM and trailing blanks after the continuation escape', () => {
    assert.equal(dumpOf('\uFEFFFROM a\r\nRUN x \\  \r\n  y\r\n'), '(from "a")\n(run "x   y")');
  });

  it('accepts a line of exactly 65535 UTF-8 bytes and rejects one byte more', () => {
    const label = 'LABEL a=';
    const fits = `FROM a\n${label}${'é'.repeat((65535 - label.length - 1) / 2)}b\n`;
    assert.equal(parse(fits).nodes.length, 2);
    const err = parseError(`FROM a\n${label}${'é'.repeat((65535 - label.length + 1) / 2)}\n`);
    assert.equal(err.message, 'dockerfile line greater than max allowed size of 65535');
    assert.deepEqual(err.ranges, [wholeLines(2, 2)]);
  });

  it('keeps doc comments directly above an instruction; an empty # resets them', () => {
    const { nodes } = parse('# syntax=x\n# old\n#\n# Build stage\n# (second line)\nFROM a\nRUN b\n');
    assert.deepEqual(nodes[0]!.comments, ['Build stage', '(second line)']);
    assert.deepEqual(nodes[1]!.comments, []);
  });
});

describe('parse: arguments', () => {
  it('unquotes flags, stops at --, and keeps flags of unknown instructions', () => {
    assert.equal(
      dumpOf('COPY --chown="a b" --from=\'x\' -- --not-a-flag dst\nFOO --x y\nconstructor z'),
      '(copy ["--chown=a b" "--from=x"] "--not-a-flag" "dst")\n(foo ["--x"] "")\n(constructor "")',
    );
  });

  it('marks exec form, including an empty array', () => {
    const { nodes } = parse('CMD []\nCMD [oops\nSHELL ["pwsh", "-c"]');
    assert.deepEqual(
      nodes.map((n) => [n.json, n.args]),
      [
        [true, []],
        [false, ['[oops']],
        [true, ['pwsh', '-c']],
      ],
    );
  });

  it('takes no heredoc in exec form, on other instructions, or inside quotes', () => {
    const { nodes } = parse('RUN ["<<EOF"]\nUSER <<EOF\nRUN echo "<<EOF"\nRUN echo it\'s <<EOF\n');
    assert.deepEqual(
      nodes.map((n) => n.heredocs.length),
      [0, 0, 0, 0],
    );
  });

  it('finds the name of <<- followed by blanks (sh semantics; the corpus expects it too)', () => {
    assert.deepEqual(
      heredocsFromLine('RUN <<- EOF cat').map((h) => [h.name, h.chomp]),
      [['EOF', true]],
    );
  });

  it('warns once per instruction about blank continuation lines', () => {
    const { warnings } = parse('FROM a\nRUN a \\\n\n  b \\\n \n  c\n');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.short, 'Empty continuation line found in: RUN a   b   c');
    assert.deepEqual(warnings[0]!.location, wholeLines(2, 6));
  });
});

describe('goQuote', () => {
  it('matches Go strconv.Quote', () => {
    assert.equal(goQuote('a "b" \\ /'), '"a \\"b\\" \\\\ /"');
    assert.equal(goQuote('\x00\x07\b\t\n\v\f\r\x1b\x7f'), '"\\x00\\a\\b\\t\\n\\v\\f\\r\\x1b\\x7f"');
    assert.equal(goQuote('♥ àöû 日本 😀'), '"♥ àöû 日本 😀"');
    assert.equal(
      goQuote('\u00a0\u0085\u200b\u2028\ufeff\ue000'),
      '"\\u00a0\\u0085\\u200b\\u2028\\ufeff\\ue000"',
    );
    assert.equal(goQuote('\u{10ffff}\u{e0001}'), '"\\U0010ffff\\U000e0001"');
  });
});
