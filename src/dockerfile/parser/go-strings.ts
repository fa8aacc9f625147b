// String helpers that behave like the Go standard library functions BuildKit's parser uses.
// JS built-ins differ in small ways that change results: `String.prototype.trim` and `\s`
// treat U+FEFF as space but not U+0085, and `toLowerCase` applies context-dependent and
// multi-character mappings (final sigma, U+0130) where Go maps one code point to one.

// Go's unicode.IsSpace is exactly the Unicode White_Space property, spelled out: V8 builds the
// set of a property escape (\p{White_Space}) at every start, ~0.5 ms, and this one has not
// changed since Unicode 6.3 (a test checks it against \p{White_Space}, code point by code point).
const WHITE_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const GO_SPACE = new RegExp(`^[${WHITE_SPACE}]$`);
const LEADING_SPACE = new RegExp(`^[${WHITE_SPACE}]+`);
const TRAILING_SPACE = new RegExp(`[${WHITE_SPACE}]+$`);

/** Go `unicode.IsSpace` for one code point (given as a string). */
export function isGoSpace(ch: string): boolean {
  return GO_SPACE.test(ch);
}

// Letters and digits beyond ASCII: classes made on first use (non-ASCII text), for the same
// reason; they are too big to spell out.
let letter: RegExp | undefined;
let digit: RegExp | undefined;

/** Go's unicode.IsLetter (category L), for one code point. */
export function isGoLetter(ch: string): boolean {
  if (ch < '\u0080') return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
  letter ??= /^\p{L}$/u;
  return letter.test(ch);
}

/** Go's unicode.IsDigit (category Nd), for one code point. */
export function isGoDigit(ch: string): boolean {
  if (ch < '\u0080') return ch >= '0' && ch <= '9';
  digit ??= /^\p{Nd}$/u;
  return digit.test(ch);
}

/** Go `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function trimLeftGoSpace(s: string): string {
  return s.replace(LEADING_SPACE, '');
}

/** Go `strings.TrimSpace`. */
export function trimGoSpace(s: string): string {
  return s.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}

/** Go `strings.ToLower`: simple one-to-one case mapping, code point by code point. */
export function goToLower(s: string): string {
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  let out = '';
  for (const ch of s) {
    // U+0130 is the only code point whose full lower case has two code points.
    out += ch === '\u0130' ? 'i' : ch.toLowerCase();
  }
  return out;
}

/** Go `bytes.TrimRight(s, "\r\n")`: every trailing CR and LF. */
export function trimNewline(s: string): string {
  let end = s.length;
  while (end > 0 && (s[end - 1] === '\n' || s[end - 1] === '\r')) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** The length of `s` in UTF-8 bytes (a lone surrogate counts 3, as WTF-8 would encode it). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
