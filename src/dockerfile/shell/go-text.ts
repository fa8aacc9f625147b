// Go's character classes, which BuildKit's lexer uses and JS spells differently. Spaces and
// `%q` quoting are shared with the parser (../parser/go-strings.ts, ../parser/go-quote.ts).

export { goQuote } from '../parser/go-quote.js';
export { isGoSpace } from '../parser/go-strings.js';

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

/** Go's unicode.IsLetter (category L), for one code point. */
export function isGoLetter(ch: string): boolean {
  return ch < '\u0080' ? (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') : LETTER.test(ch);
}

/** Go's unicode.IsDigit (category Nd), for one code point. */
export function isGoDigit(ch: string): boolean {
  return ch < '\u0080' ? ch >= '0' && ch <= '9' : DIGIT.test(ch);
}
