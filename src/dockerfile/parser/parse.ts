// Dockerfile text → instruction nodes, following BuildKit's parser line for line where it
// matters for compatibility: directives only at the top, comments dropped even inside
// continuations, continuation lines joined with nothing in between (their indentation kept),
// blank continuation lines skipped with a warning, heredoc bodies read after their line.

import { DockerfileError, type SourceRange } from '../../errors.js';
import type { InstructionNode, ParseResult, ParserDirectives, ParserWarning } from './ast.js';
import { DirectiveParser } from './directives.js';
import { trimGoSpace, trimLeftGoSpace, trimNewline } from './go-strings.js';
import { heredocsFromLine } from './heredoc.js';
import { LineScanner, MAX_LINE_BYTES } from './line-scanner.js';
import { parseInstruction } from './parse-instruction.js';

export interface ParseOptions {
  /** The file name, carried by errors so the CLI can print `file:line`. */
  file?: string;
}

const DEFAULT_ESCAPE = '\\';
const HEREDOC_KEYWORDS = new Set(['add', 'copy', 'run']);
const EMPTY_CONTINUATION_DETAIL = 'Empty continuation lines will become errors in a future release';
const EMPTY_CONTINUATION_URL = 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/';

function lines(start: number, end: number): SourceRange {
  // Whole lines, as BuildKit reports them (character 0 at both ends).
  return { start: { line: start, character: 0 }, end: { line: Math.max(start, end), character: 0 } };
}

function isComment(line: string): boolean {
  return trimLeftGoSpace(line).startsWith('#');
}

/**
 * Remove a line-continuation escape: the escape character as the last non-blank character,
 * not itself escaped (`\\` at the end is a literal backslash). Returns the remaining text and
 * whether the logical line ends here. Like BuildKit's regular expression, an escaped escape
 * followed by a continuation escape (`\\\`) is NOT treated as a continuation.
 */
function trimContinuation(line: string, escapeToken: string): [text: string, endOfLine: boolean] {
  let end = line.length;
  while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
  if (end === 0 || line[end - 1] !== escapeToken) return [line, true];
  if (end >= 2 && line[end - 2] === escapeToken) return [line, true];
  return [line.slice(0, end - 1), false];
}

function canContainHeredoc(node: InstructionNode): boolean {
  const target = node.keyword === 'onbuild' && node.child !== undefined ? node.child : node;
  return HEREDOC_KEYWORDS.has(target.keyword) && !target.json;
}

/** Parse a whole Dockerfile. Throws a DockerfileError (with line ranges) on invalid input. */
export function parse(text: string, options: ParseOptions = {}): ParseResult {
  const scanner = new LineScanner(text);
  const directiveParser = new DirectiveParser();
  const directives: ParserDirectives = {};
  const nodes: InstructionNode[] = [];
  const warnings: ParserWarning[] = [];
  let escapeToken = DEFAULT_ESCAPE;
  let comments: string[] = [];
  let currentLine = 0;

  const located = (err: unknown, range: SourceRange | undefined): unknown => {
    if (!(err instanceof DockerfileError)) return err;
    return new DockerfileError(err.message, {
      ranges: range === undefined ? [] : [range],
      source: text,
      cause: err.cause,
      ...(options.file === undefined ? {} : { file: options.file }),
    });
  };

  // Strips the newline (and, for the first line of an instruction, leading blanks), looks for
  // a directive, and blanks out comments. Returns whether the line was a directive.
  const processLine = (raw: string, stripLeft: boolean): [text: string, directive: boolean] => {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeftGoSpace(token);
    let isDirective = false;
    try {
      const directive = directiveParser.parseLine(token);
      if (directive !== undefined) {
        if (directive.name === 'escape' && directive.value !== '`' && directive.value !== '\\') {
          throw new DockerfileError(`invalid escape token '${directive.value}' does not match \` or \\`);
        }
        if (directive.name === 'escape') escapeToken = directive.value;
        directives[directive.name] = directive.value;
        isDirective = true;
      }
    } catch (err) {
      throw located(err, lines(currentLine + 1, currentLine + 1));
    }
    return [isComment(token) ? '' : token, isDirective];
  };

  for (let raw = scanner.next(); raw !== undefined; raw = scanner.next()) {
    if (currentLine === 0 && raw.startsWith('\uFEFF')) raw = raw.slice(1);
    if (isComment(raw)) {
      // An empty `#` line separates doc comments from what follows.
      const comment = trimGoSpace(trimLeftGoSpace(raw).slice(1));
      if (comment === '') comments = [];
      else comments.push(comment);
    }
    const [firstText, isDirective] = processLine(raw, true);
    if (isDirective) comments.pop();
    currentLine++;

    const startLine = currentLine;
    let [line, endOfLine] = trimContinuation(firstText, escapeToken);
    if (endOfLine && line === '') continue;

    let hasEmptyContinuationLine = false;
    while (!endOfLine) {
      const next = scanner.next();
      if (next === undefined) break;
      const [nextText] = processLine(next, false);
      currentLine++;
      if (isComment(next)) continue;
      if (trimLeftGoSpace(nextText) === '') {
        hasEmptyContinuationLine = true;
        continue;
      }
      const [part, ends] = trimContinuation(nextText, escapeToken);
      line += part;
      endOfLine = ends;
    }

    if (hasEmptyContinuationLine) {
      warnings.push({
        short: `Empty continuation line found in: ${line}`,
        detail: [EMPTY_CONTINUATION_DETAIL],
        url: EMPTY_CONTINUATION_URL,
        location: lines(startLine, currentLine),
      });
    }

    let node: InstructionNode;
    try {
      node = parseInstruction(line, escapeToken);
      if (canContainHeredoc(node) && line.includes('<<')) {
        for (const heredoc of heredocsFromLine(line)) {
          let content = '';
          let terminated = false;
          for (let body = scanner.next(); body !== undefined; body = scanner.next()) {
            currentLine++;
            // Bodies are raw: no comment, directive or continuation handling.
            let candidate = trimNewline(body);
            if (heredoc.chomp) candidate = candidate.replace(/^\t+/, '');
            if (candidate === heredoc.name) {
              terminated = true;
              break;
            }
            content += body;
          }
          if (!terminated) throw new DockerfileError('unterminated heredoc');
          node.heredocs.push({ ...heredoc, content });
        }
      }
    } catch (err) {
      throw located(err, lines(startLine, currentLine));
    }

    node.startLine = startLine;
    node.endLine = currentLine;
    node.comments = comments;
    if (node.child !== undefined) {
      node.child.startLine = startLine;
      node.child.endLine = currentLine;
    }
    nodes.push(node);
    comments = [];
  }

  if (nodes.length === 0) {
    throw located(
      new DockerfileError('file with no instructions'),
      currentLine === 0 ? undefined : lines(currentLine, currentLine),
    );
  }
  const tooLong = scanner.lineTooLong;
  if (tooLong !== undefined) {
    throw located(
      new DockerfileError(`dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`),
      lines(tooLong, tooLong),
    );
  }
  return { nodes, escapeToken, directives, warnings };
}
