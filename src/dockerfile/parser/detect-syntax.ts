// Finding the `syntax` (or `check`) directive without parsing the file as a Dockerfile: the
// frontend has to be chosen before we know the file is one. `detectSyntax` is lenient about
// the format: `# syntax=`, `// syntax=`, or a JSON object `{"syntax": "..."}`, after an
// optional UTF-8 BOM and `#!` shebang line.

import type { SourceRange } from '../../errors.js';
import { type DirectiveName, parseDirectives } from './directives.js';

export interface DetectedDirective {
  /** The value up to its first space (`docker/dockerfile:1` of `docker/dockerfile:1 // x`). */
  ref: string;
  /** The whole value, trimmed. */
  cmdline: string;
  /** 1-based line of the directive (the shebang counts). */
  line: number;
  location: SourceRange;
}

function discardBom(text: string): string {
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

function fromComments(
  key: DirectiveName,
  text: string,
  comment: string,
  lineOffset: number,
): DetectedDirective | undefined {
  const directive = parseDirectives(text, { comment, lineOffset, lenient: true }).find((d) => d.name === key);
  if (directive === undefined) return undefined;
  const space = directive.value.indexOf(' ');
  return {
    ref: space < 0 ? directive.value : directive.value.slice(0, space),
    cmdline: directive.value,
    line: directive.line,
    location: directive.location,
  };
}

function fromJson(key: string, text: string, lineOffset: number): DetectedDirective | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const found = Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
  if (typeof found !== 'string') return undefined;
  const line = lineOffset + 1;
  return {
    ref: found,
    cmdline: found,
    line,
    location: { start: { line, character: 0 }, end: { line, character: 0 } },
  };
}

function findDirective(key: DirectiveName, text: string, anyFormat: boolean): DetectedDirective | undefined {
  text = discardBom(text);
  let lineOffset = 0;
  const newline = text.indexOf('\n');
  if ((newline < 0 ? text : text.slice(0, newline)).startsWith('#!')) {
    text = newline < 0 ? '' : text.slice(newline + 1);
    lineOffset = 1;
  }
  const found = fromComments(key, text, '#', lineOffset);
  if (found !== undefined || !anyFormat) return found;
  return fromComments(key, text, '//', lineOffset) ?? fromJson(key, text, lineOffset);
}

/** The `syntax` directive in any of the accepted formats, or undefined. Never throws. */
export function detectSyntax(text: string): DetectedDirective | undefined {
  return findDirective('syntax', text, true);
}

/** A directive in the plain `# key=value` format only (how `check` is read), or undefined. */
export function parseDirective(key: DirectiveName, text: string): DetectedDirective | undefined {
  return findDirective(key, text, false);
}
