// Go's character classes and string quoting, which BuildKit's lexer uses and JS spells
// differently (JS `\s` includes U+FEFF and misses U+0085; JS has no `%q`).

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go's unicode.IsSpace, for one code point. */
export function isGoSpace(ch: string): boolean {
  switch (ch) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case '\u0085':
    case '\u00a0':
    case '\u1680':
    case '\u2028':
    case '\u2029':
    case '\u202f':
    case '\u205f':
    case '\u3000':
      return true;
    default:
      return ch >= '\u2000' && ch <= '\u200a';
  }
}

/** Go's unicode.IsLetter (category L), for one code point. */
export function isGoLetter(ch: string): boolean {
  return ch < '\u0080' ? (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') : LETTER.test(ch);
}

/** Go's unicode.IsDigit (category Nd), for one code point. */
export function isGoDigit(ch: string): boolean {
  return ch < '\u0080' ? ch >= '0' && ch <= '9' : DIGIT.test(ch);
}

const NAMED_ESCAPES: Readonly<Record<string, string>> = {
  '\u0007': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '"': '\\"',
  '\\': '\\\\',
};

/** Go's strconv.Quote (`%q`), so error messages quote words exactly as BuildKit's do. */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const named = NAMED_ESCAPES[ch];
    if (named !== undefined) {
      out += named;
    } else if (ch === ' ' || PRINTABLE.test(ch)) {
      out += ch;
    } else {
      const cp = ch.codePointAt(0) ?? 0;
      const hex = cp.toString(16);
      if (cp < 0x80) out += `\\x${hex.padStart(2, '0')}`;
      else if (cp < 0x10000) out += `\\u${hex.padStart(4, '0')}`;
      else out += `\\U${hex.padStart(8, '0')}`;
    }
  }
  return `${out}"`;
}
