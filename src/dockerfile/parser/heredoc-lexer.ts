// A small shell word splitter, only for finding heredoc markers (`<<EOF`, `<<-'EOF'`) in an
// instruction line and unquoting their names. It mirrors how BuildKit runs its shell lexer
// for this purpose: escape character always `\`, no variables set and unset ones kept as
// written (`$EOF` stays `$EOF`), and `<<` glued to the blanks that follow it so `<<  EOF` is
// one word. The parser must not depend on the shell package (which expands for real), hence
// this copy of just the splitting rules.

import { DockerfileError } from '../../errors.js';
import { goQuote } from './go-quote.js';
import { isGoDigit, isGoLetter, isGoSpace } from './go-strings.js';

export interface HeredocLexOptions {
  /** Keep quote characters in the words. */
  rawQuotes: boolean;
  /** Keep escape characters in the words. */
  rawEscapes: boolean;
}

const ESCAPE = '\\';
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

class LexError extends Error {}

function isBlank(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r';
}

/** Collects words; the buffer is shared with nested `${...}` scans, as in the reference lexer. */
class Words {
  readonly list: string[] = [];
  inWord = false;

  constructor(private readonly lexer: Lexer) {}

  addChar(ch: string): void {
    if (isGoSpace(ch)) {
      if (this.inWord && this.lexer.buffer !== '') {
        this.list.push(this.lexer.buffer);
        this.lexer.buffer = '';
        this.inWord = false;
      }
    } else this.addRaw(ch);
  }

  addRaw(text: string): void {
    this.lexer.buffer += text;
    this.inWord = true;
  }

  addString(text: string): void {
    for (const ch of text) this.addChar(ch);
  }

  finish(): string[] {
    if (this.lexer.buffer !== '') {
      this.list.push(this.lexer.buffer);
      this.lexer.buffer = '';
      this.inWord = false;
    }
    return this.list;
  }
}

class Lexer {
  private readonly chars: string[];
  private pos = 0;
  buffer = '';
  private rawEscapes: boolean;

  constructor(
    text: string,
    private readonly options: HeredocLexOptions,
  ) {
    this.chars = Array.from(text);
    this.rawEscapes = options.rawEscapes;
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    return this.chars[this.pos++];
  }

  /** Scan until `stop` (consumed) or the end; returns the text and the words. */
  scan(stop: string | undefined, rawEscapes: boolean): { text: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      this.buffer = '';
      const words = new Words(this);
      let text = '';
      for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
        if (stop !== undefined && ch === stop) {
          this.next();
          return { text, words: words.finish() };
        }
        if (ch === '$') {
          const value = this.dollar();
          text += value;
          words.addString(value);
        } else if (ch === '<' || ch === "'" || ch === '"') {
          const value =
            ch === '<' ? this.possibleHeredoc() : ch === "'" ? this.singleQuote() : this.doubleQuote();
          text += value;
          words.addRaw(value);
        } else {
          this.next();
          if (ch === ESCAPE) {
            if (this.rawEscapes) {
              words.addRaw(ch);
              text += ch;
            }
            const escaped = this.next();
            if (escaped === undefined) break;
            words.addRaw(escaped);
            text += escaped;
          } else {
            words.addChar(ch);
            text += ch;
          }
        }
      }
      if (stop !== undefined)
        throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
      return { text, words: words.finish() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private singleQuote(): string {
    const open = this.next()!;
    let out = this.options.rawQuotes ? open : '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined)
        throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return this.options.rawQuotes ? out + ch : out;
      out += ch;
    }
  }

  private doubleQuote(): string {
    const open = this.next()!;
    let out = this.options.rawQuotes ? open : '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined)
        throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') {
        this.next();
        return this.options.rawQuotes ? out + ch : out;
      }
      if (ch === '$') {
        out += this.dollar();
        continue;
      }
      let taken = this.next()!;
      if (taken === ESCAPE) {
        if (this.rawEscapes) out += taken;
        const after = this.peek();
        if (after === undefined) continue;
        // Only these can be escaped inside double quotes; otherwise the escape stays.
        if (after === '"' || after === '$' || after === ESCAPE) taken = this.next()!;
      }
      out += taken;
    }
  }

  /**
   * `<<` plus the blanks after it, as one unit; a single `<` is just a character.
   * Unlike BuildKit we also glue the blanks after `<<-`, so `<<- EOF` is a marker as in sh
   * (BuildKit splits it into `<<-` and `EOF` and finds no heredoc, although its own test
   * table lists `EOF` for that line; the conformance corpus follows the table).
   */
  private possibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let out = '<<';
    if (this.peek() === '-' && isBlank(this.chars[this.pos + 1])) out += this.next();
    for (let ch = this.peek(); isBlank(ch); ch = this.peek()) {
      out += ch;
      this.next();
    }
    return out;
  }

  private name(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && isGoDigit(ch)) {
        for (let d = this.peek(); d !== undefined && isGoDigit(d); d = this.peek()) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) return this.next()!;
      if (!isGoLetter(ch) && !isGoDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  /** A `$` reference. Nothing is set, so every reference comes back as written. */
  private dollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.name();
      return name === '' ? '$' : `$${name}`;
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new LexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.name();
    let op = this.next() ?? '';
    if (op === '}') return `\${${name}}`;
    if (op === '/') {
      if (this.peek() === '/') this.next();
      const pattern = this.scanNested('/', true, `syntax error: missing '/' in \${}`);
      const replacement = this.scanNested('}', true, "syntax error: missing '}'");
      return `\${${name}/${pattern}/${replacement}}`;
    }
    let nullIsUnset = false;
    if (op === ':') {
      nullIsUnset = true;
      op += this.next() ?? '';
    } else if (!['+', '-', '?', '#', '%'].includes(op)) {
      throw new LexError(`unsupported modifier (${op}) in substitution`);
    }
    const modifier = op[op.length - 1] ?? '';
    const trims = modifier === '#' || modifier === '%';
    if (nullIsUnset && trims) throw new LexError(`unsupported modifier (${op}) in substitution`);
    const word = this.scanNested('}', trims, "syntax error: missing '}'");
    return `\${${name}${op}${word}}`;
  }

  private scanNested(stop: string, rawEscapes: boolean, atEndMessage: string): string {
    try {
      return this.scan(stop, rawEscapes).text;
    } catch (err) {
      if (err instanceof LexError && this.peek() === undefined) throw new LexError(atEndMessage);
      throw err;
    }
  }
}

/** Split `text` into shell words for heredoc detection. Throws a DockerfileError on an unclosed quote. */
export function lexHeredocWords(text: string, options: HeredocLexOptions): string[] {
  try {
    return new Lexer(text, options).scan(undefined, options.rawEscapes).words;
  } catch (err) {
    if (err instanceof LexError)
      throw new DockerfileError(`failed to process ${goQuote(text)}: ${err.message}`);
    throw err;
  }
}
