// Parser directives (`# syntax=`, `# escape=`, `# check=`): comment lines at the very top of a
// Dockerfile. Scanning stops for good at the first line that is not a known directive, so a
// directive after an instruction, a blank line or an ordinary comment is just a comment.

import { DockerfileError, type SourceRange } from '../../errors.js';
import { trimLeftGoSpace } from './go-strings.js';

export type DirectiveName = 'syntax' | 'escape' | 'check';

export interface Directive {
  /** Lower-cased (`# EScape=` reports `escape`). */
  name: DirectiveName;
  /** Everything after `=`, trimmed. */
  value: string;
  /** 1-based line, counted from the first line this parser was given (plus its offset). */
  line: number;
  location: SourceRange;
}

const KNOWN = new Set<string>(['syntax', 'escape', 'check']);
// Go's `\s` is ASCII-only ([\t\n\f\r ]) and `.` is anything but a newline.
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;

/** Reads directive lines one at a time, keeping the "stop at the first other line" state. */
export class DirectiveParser {
  private line: number;
  private readonly comment: string;
  private readonly seen = new Set<string>();
  private finished = false;

  /**
   * @param comment the comment prefix: `#` in a Dockerfile, `//` for syntax detection elsewhere
   * @param lineOffset lines already consumed before the first line passed in (a shebang)
   */
  constructor(options: { comment?: string; lineOffset?: number } = {}) {
    this.comment = options.comment ?? '#';
    this.line = options.lineOffset ?? 0;
  }

  /** True once a non-directive line was seen: later lines are never directives. */
  get done(): boolean {
    return this.finished;
  }

  /** The directive on this line (without its newline), or undefined. Throws on a repeated directive. */
  parseLine(text: string): Directive | undefined {
    this.line++;
    if (this.finished) return undefined;
    if (!text.startsWith(this.comment)) {
      this.finished = true;
      return undefined;
    }
    const match = DIRECTIVE.exec(trimLeftGoSpace(text.slice(this.comment.length)));
    const name = match?.[1]?.toLowerCase();
    if (match === null || name === undefined || !KNOWN.has(name)) {
      this.finished = true;
      return undefined;
    }
    const location = { start: { line: this.line, character: 0 }, end: { line: this.line, character: 0 } };
    if (this.seen.has(name)) {
      throw new DockerfileError(`only one ${name} parser directive can be used`, { ranges: [location] });
    }
    this.seen.add(name);
    return { name: name as DirectiveName, value: match[2]!, line: this.line, location };
  }
}

/** Split like Go's bufio.ScanLines: on `\n`, dropping one `\r` before it; no empty last line. */
export function scanLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/**
 * All directives at the top of `text`. With `lenient`, a repeated directive ends the scan
 * instead of throwing (syntax detection must never fail).
 */
export function parseDirectives(
  text: string,
  options: { comment?: string; lineOffset?: number; lenient?: boolean } = {},
): Directive[] {
  const parser = new DirectiveParser(options);
  const found: Directive[] = [];
  for (const line of scanLines(text)) {
    if (parser.done) break;
    try {
      const directive = parser.parseLine(line);
      if (directive !== undefined) found.push(directive);
    } catch (err) {
      if (options.lenient === true) break;
      throw err;
    }
  }
  return found;
}
