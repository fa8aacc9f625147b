// How one .dockerignore pattern is checked and turned into a matcher, following
// moby/patternmatcher: Go's filepath.Match decides which patterns are syntax errors, and the
// pattern is then matched as an exact string, a prefix, a suffix or an anchored regexp.
//
// Upstream hands its regexp text to Go's RE2 with the glob's `[...]` copied through, so classes
// take RE2's meaning: ranges, `[^…]`, `[:alpha:]`, `\d`. We parse classes ourselves and build a
// JS regexp with the same meaning, with two deliberate differences for patterns nobody means:
// `*` and `?` inside `[...]` are literal (upstream expands them inside the class text), and
// escapes RE2 knows but we do not (`\pL`, `\x41`, octal, `\Q…\E`) are syntax errors.

export type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

export interface CompiledPattern {
  matchType: MatchType;
  /** Set for 'regexp' patterns that compiled. */
  regexp: RegExp | undefined;
  /** Why a 'regexp' pattern cannot be used; upstream reports it on every match, not when built. */
  error: string | undefined;
}

/**
 * Go's filepath.Match(pattern, name) error check: true unless some part of the pattern is malformed
 * (an unclosed `[`, `[]`, `[-`, a range missing an end, a trailing `\`). It does not check that
 * ranges are in order; RE2 does that later.
 */
export function isValidGlob(pattern: string): boolean {
  const chars = Array.from(pattern);
  let i = 0;
  while (i < chars.length) {
    while (chars[i] === '*') i++;
    // A chunk runs to the next `*` outside `[...]`.
    let end = i;
    let inClass = false;
    for (; end < chars.length; end++) {
      const c = chars[end];
      if (c === '\\') {
        if (end + 1 < chars.length) end++;
      } else if (c === '[') {
        inClass = true;
      } else if (c === ']') {
        inClass = false;
      } else if (c === '*' && !inClass) {
        break;
      }
    }
    if (!isValidChunk(chars.slice(i, end))) return false;
    i = end;
  }
  return true;
}

function isValidChunk(chunk: string[]): boolean {
  let k = 0;
  // One class endpoint: not `-` or `]`, maybe escaped, and something must follow it.
  const endpoint = (): boolean => {
    const c = chunk[k];
    if (c === undefined || c === '-' || c === ']') return false;
    if (c === '\\') k++;
    if (chunk[k] === undefined) return false;
    k++;
    return k < chunk.length;
  };
  while (k < chunk.length) {
    const c = chunk[k];
    if (c === '[') {
      k++;
      if (chunk[k] === '^') k++;
      for (let ranges = 0; ; ranges++) {
        if (chunk[k] === ']' && ranges > 0) {
          k++;
          break;
        }
        if (!endpoint()) return false;
        if (chunk[k] === '-') {
          k++;
          if (!endpoint()) return false;
        }
      }
    } else if (c === '\\') {
      k += 2;
      if (k > chunk.length) return false;
    } else {
      k++;
    }
  }
  return true;
}

/** Any character but a newline: RE2's `.` (the `v` flag's `.` would also refuse \r, U+2028…). */
const ANY = '[^\\n]';
const NOT_SLASH = '[^\\/]';
/** Characters a `v`-mode RegExp needs escaped outside a class. */
const SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);

/** RE2's ASCII classes, as `v`-mode class bodies. */
const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\u{0}-\\u{7f}',
  blank: '\\t ',
  cntrl: '\\u{0}-\\u{1f}\\u{7f}',
  digit: '0-9',
  graph: '\\u{21}-\\u{7e}',
  lower: 'a-z',
  print: '\\u{20}-\\u{7e}',
  punct: '\\u{21}-\\u{2f}\\u{3a}-\\u{40}\\u{5b}-\\u{60}\\u{7b}-\\u{7e}',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** RE2's Perl classes `\d \s \w` (ASCII) and their negations. */
const PERL_CLASSES: Readonly<Record<string, string>> = {
  d: '[0-9]',
  D: '[^0-9]',
  s: '[\\t\\n\\f\\r ]',
  S: '[^\\t\\n\\f\\r ]',
  w: '[0-9A-Za-z_]',
  W: '[^0-9A-Za-z_]',
};

/** RE2's zero-width escapes (outside classes): word boundary, not one, start and end of text. */
const ASSERTIONS: Readonly<Record<string, string>> = { b: '\\b', B: '\\B', A: '^', z: '$' };

const CONTROL_ESCAPES: Readonly<Record<string, string>> = {
  a: '\u0007',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

class BadPattern extends Error {}

/** `ch` as a regexp atom that matches exactly it. */
function literal(ch: string): string {
  return SYNTAX.has(ch) ? `\\${ch}` : ch;
}

/** `ch` inside a `v`-mode class, where many more characters are reserved. */
function classLiteral(ch: string): string {
  return `\\u{${(ch.codePointAt(0) ?? 0).toString(16)}}`;
}

/** The atom for `\c`: a literal, a control character, or a Perl class; RE2's other escapes are refused. */
function escapeAtom(ch: string): { char: string } | { set: string } {
  if (ch < '\u0080' && !/^[0-9A-Za-z]$/.test(ch)) return { char: ch };
  const control = CONTROL_ESCAPES[ch];
  if (control !== undefined) return { char: control };
  const set = PERL_CLASSES[ch];
  if (set !== undefined) return { set };
  throw new BadPattern(`unsupported escape \\${ch}`);
}

/** Parses `[...]` starting at chars[start] (the `[`); returns the JS class and the index after `]`. */
function parseClass(chars: string[], start: number): { source: string; end: number } {
  let i = start + 1;
  const negated = chars[i] === '^';
  if (negated) i++;
  const parts: string[] = [];
  const atom = (): { char: string } | { set: string } => {
    const c = chars[i++];
    if (c === undefined) throw new BadPattern('missing ]');
    if (c !== '\\') return { char: c };
    const next = chars[i++];
    if (next === undefined) throw new BadPattern('trailing \\');
    return escapeAtom(next);
  };
  for (let first = true; ; first = false) {
    const c = chars[i];
    if (c === undefined) throw new BadPattern('missing ]');
    if (c === ']' && !first) return { source: `[${negated ? '^' : ''}${parts.join('')}]`, end: i + 1 };
    if (c === '[' && chars[i + 1] === ':') {
      const posix = parsePosixClass(chars, i);
      if (posix !== undefined) {
        parts.push(posix.source);
        i = posix.end;
        continue;
      }
    }
    const lo = atom();
    if (chars[i] === '-' && chars[i + 1] !== undefined && chars[i + 1] !== ']') {
      i++;
      const hi = atom();
      if (!('char' in lo) || !('char' in hi)) throw new BadPattern('class in a range');
      if ((lo.char.codePointAt(0) ?? 0) > (hi.char.codePointAt(0) ?? 0))
        throw new BadPattern('range out of order');
      parts.push(`${classLiteral(lo.char)}-${classLiteral(hi.char)}`);
    } else {
      parts.push('char' in lo ? classLiteral(lo.char) : lo.set);
    }
  }
}

/** `[:name:]` or `[:^name:]` inside a class; undefined when there is no `:]` (then `[` is literal). */
function parsePosixClass(chars: string[], start: number): { source: string; end: number } | undefined {
  for (let j = start + 2; j + 1 < chars.length; j++) {
    if (chars[j] !== ':' || chars[j + 1] !== ']') continue;
    let name = chars.slice(start + 2, j).join('');
    const negated = name.startsWith('^');
    if (negated) name = name.slice(1);
    const body = POSIX_CLASSES[name];
    if (body === undefined) throw new BadPattern(`unknown class [:${name}:]`);
    return { source: `[${negated ? '^' : ''}${body}]`, end: j + 2 };
  }
  return undefined;
}

/** Classifies and compiles a cleaned pattern (without its `!`) that passed isValidGlob. */
export function compilePattern(pattern: string): CompiledPattern {
  const chars = Array.from(pattern);
  let source = '^';
  let matchType: MatchType = 'exact';
  let error: string | undefined;
  try {
    for (let i = 0, token = 0; i < chars.length; token++) {
      const ch = chars[i++] as string;
      if (ch === '*' && chars[i] === '*') {
        i++;
        if (chars[i] === '/') i++; // `**/` is `**`
        if (i >= chars.length) {
          // A trailing `**` matches everything below, like .gitignore.
          if (matchType === 'exact') {
            matchType = 'prefix';
          } else {
            source += `${ANY}*`;
            matchType = 'regexp';
          }
        } else {
          source += `(?:${ANY}*\\/)?`; // any number of directories, even none
          matchType = 'regexp';
        }
        if (token === 0) matchType = 'suffix';
      } else if (ch === '*') {
        source += `${NOT_SLASH}*`;
        matchType = 'regexp';
      } else if (ch === '?') {
        source += NOT_SLASH;
        matchType = 'regexp';
      } else if (ch === '\\') {
        matchType = 'regexp';
        const next = chars[i++];
        if (next === undefined) throw new BadPattern('trailing \\');
        const assertion = ASSERTIONS[next];
        if (assertion !== undefined) {
          source += assertion;
          continue;
        }
        const escaped = escapeAtom(next);
        source += 'char' in escaped ? literal(escaped.char) : escaped.set;
      } else if (ch === '[') {
        matchType = 'regexp';
        const cls = parseClass(chars, i - 1);
        source += cls.source;
        i = cls.end;
      } else if (ch === ']') {
        matchType = 'regexp';
        source += '\\]';
      } else if (ch === '^') {
        source += '^'; // upstream leaves `^` unescaped: an anchor, so `a^b*` never matches
      } else {
        source += literal(ch);
      }
    }
  } catch (err) {
    if (!(err instanceof BadPattern)) throw err;
    error = err.message;
    matchType = 'regexp';
  }
  if (matchType !== 'regexp' || error !== undefined) return { matchType, regexp: undefined, error };
  try {
    return { matchType, regexp: new RegExp(`${source}$`, 'v'), error: undefined };
  } catch (err) {
    return { matchType, regexp: undefined, error: String(err) };
  }
}
