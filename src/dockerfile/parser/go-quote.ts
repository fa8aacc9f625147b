// Go's `strconv.Quote`, which BuildKit's AST dump uses for every flag and argument.
// JSON.stringify is not a substitute: Go writes NUL as `\x00`, U+007F as `\x7f`, has `\a`
// and `\v`, and escapes non-printable Unicode (U+00A0, U+2028, ...) that JSON leaves raw.

// Go's IsPrint: categories L, M, N, P, S, plus the ASCII space (handled separately). Made on
// first use (non-ASCII text): building its Unicode classes costs ~1.5 ms, at every start.
let printable: RegExp | undefined;
function isPrintable(ch: string): boolean {
  printable ??= /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
  return printable.test(ch);
}
// Printable ASCII without `"` and `\`: such strings need no per-character work.
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Quote `s` exactly as Go's `strconv.Quote` would quote its UTF-8 encoding. */
export function goQuote(s: string): string {
  if (PLAIN_ASCII.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') {
      out += `\\${ch}`;
    } else if (cp === 0x20 || (cp > 0x20 && cp < 0x7f) || (cp > 0x7f && isPrintable(ch))) {
      out += ch;
    } else if (SHORT_ESCAPES[ch] !== undefined) {
      out += SHORT_ESCAPES[ch];
    } else if (cp < 0x20 || cp === 0x7f) {
      out += `\\x${hex(cp, 2)}`;
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      // A lone surrogate is not valid UTF-8; Go would see its three bytes and escape each.
      out += `\\x${hex(0xe0 | (cp >> 12), 2)}\\x${hex(0x80 | ((cp >> 6) & 0x3f), 2)}\\x${hex(0x80 | (cp & 0x3f), 2)}`;
    } else if (cp < 0x10000) {
      out += `\\u${hex(cp, 4)}`;
    } else {
      out += `\\U${hex(cp, 8)}`;
    }
  }
  return `${out}"`;
}
