// The patterns of `${v#p}`, `${v%p}` and `${v/p/r}`: `*` is any run of characters, `?` one
// character, `\` makes `*`, `?` or `\` literal. There are no bracket expressions. As in
// BuildKit (whose patterns are Go regexps), wildcards do not cross a newline.

import { DockerfileError } from '../../errors.js';
import { isGoDigit, isGoLetter } from './go-text.js';

const ANY = '[^\\n]';
// Characters a `u`-mode RegExp needs escaped outside a class (and only these may be).
const REGEX_SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);

export class ShellPattern {
  readonly pattern: string;
  private readonly greedyPrefix: RegExp;
  private readonly lazyPrefix: RegExp;
  private readonly whole: RegExp;
  private readonly search: RegExp;

  /** Throws a DockerfileError with BuildKit's message when the pattern has a bad escape. */
  constructor(pattern: string) {
    this.pattern = pattern;
    const greedy = translate(pattern, false);
    this.greedyPrefix = new RegExp(`^(?:${greedy})`, 'u');
    this.lazyPrefix = new RegExp(`^(?:${translate(pattern, true)})`, 'u');
    this.whole = new RegExp(`^(?:${greedy})$`, 'u');
    this.search = new RegExp(greedy, 'gu');
  }

  /** `${v#p}` (shortest) and `${v##p}` (longest): remove a matching prefix. */
  trimPrefix(value: string, longest: boolean): string {
    const m = (longest ? this.greedyPrefix : this.lazyPrefix).exec(value);
    return m === null ? value : value.slice(m[0].length);
  }

  /**
   * `${v%p}` (shortest) and `${v%%p}` (longest): remove a matching suffix. A regexp finds the
   * leftmost match, not the rightmost, so each suffix is tried in turn (BuildKit reverses the
   * pattern and the value instead; the answers are the same).
   */
  trimSuffix(value: string, longest: boolean): string {
    const starts = codePointBoundaries(value);
    if (!longest) starts.reverse();
    for (const start of starts) {
      if (this.whole.test(value.slice(start))) return value.slice(0, start);
    }
    return value;
  }

  /** `${v/p/r}`: replace the leftmost (longest-starting) match; `r` is inserted as is. */
  replaceFirst(value: string, replacement: string): string {
    this.search.lastIndex = 0;
    const m = this.search.exec(value);
    return m === null ? value : value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
  }

  /**
   * `${v//p/r}`: replace every match, following Go's Regexp.ReplaceAllString, which BuildKit
   * calls: an empty match right after a match is skipped, and `$0`, `$name`, `${name}`, `$$` in
   * the replacement are template references (only `$0`, the whole match, is ever non-empty).
   */
  replaceAll(value: string, replacement: string): string {
    let out = '';
    let lastEnd = 0;
    let searchFrom = 0;
    while (searchFrom <= value.length) {
      this.search.lastIndex = searchFrom;
      const m = this.search.exec(value);
      if (m === null) break;
      const start = m.index;
      const end = start + m[0].length;
      out += value.slice(lastEnd, start);
      if (end > lastEnd || start === 0) out += expandGoTemplate(replacement, m[0]);
      lastEnd = end;
      // Always move on by at least one character, so an empty match cannot repeat.
      const width = (value.codePointAt(searchFrom) ?? 0) > 0xffff ? 2 : 1;
      searchFrom = Math.max(searchFrom + width, end);
    }
    return out + value.slice(lastEnd);
  }
}

function translate(pattern: string, lazy: boolean): string {
  const chars = Array.from(pattern);
  let out = '';
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (ch === '*') {
      out += lazy ? `${ANY}*?` : `${ANY}*`;
    } else if (ch === '?') {
      out += ANY;
    } else if (ch === '\\') {
      const next = chars[i + 1];
      // `\}` and `\/` were written only so they would not end the `${…}`: the next iteration
      // adds the bare character.
      if (next === '}' || next === '/') continue;
      if (next !== '*' && next !== '?' && next !== '\\') {
        const what = next === undefined ? "'\\' at the end" : `'\\${next}'`;
        throw new DockerfileError(`invalid pattern (${pattern}) in substitution: invalid escape ${what}`);
      }
      out += `\\${next}`;
      i++;
    } else {
      out += REGEX_SYNTAX.has(ch) ? `\\${ch}` : ch;
    }
  }
  return out;
}

/** UTF-16 offsets where a code point starts, plus the end. */
function codePointBoundaries(value: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === 0 || !isHighSurrogate(value.charCodeAt(i - 1))) out.push(i);
  }
  out.push(value.length);
  return out;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/** Go's Regexp.Expand for a regexp without capture groups. */
function expandGoTemplate(template: string, match: string): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const dollar = template.indexOf('$', i);
    if (dollar < 0) break;
    out += template.slice(i, dollar);
    i = dollar + 1;
    if (template[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    const ref = readTemplateName(template, i);
    if (ref === undefined) {
      out += '$'; // not a reference: the `$` stays
      continue;
    }
    i = ref.end;
    if (ref.name === '0') out += match;
  }
  return out + template.slice(i);
}

function readTemplateName(template: string, from: number): { name: string; end: number } | undefined {
  const braced = template[from] === '{';
  let i = braced ? from + 1 : from;
  const start = i;
  for (const ch of template.slice(start)) {
    if (ch !== '_' && !isGoLetter(ch) && !isGoDigit(ch)) break;
    i += ch.length;
  }
  if (i === start) return undefined;
  const name = template.slice(start, i);
  if (braced) {
    if (template[i] !== '}') return undefined;
    i++;
  }
  return { name, end: i };
}
