// Dockerfile word processing: quote removal, the escape character, and `$VAR` / `${VAR…}`
// expansion, as BuildKit's frontend/dockerfile/shell does it. Not a shell: no globbing, no
// command substitution, no arithmetic. Behaviour is pinned by shared/conformance/shell-lexer.

import { BuilderError, DockerfileError } from '../../errors.js';
import type { EnvGetter } from './env.js';
import { goQuote, isGoDigit, isGoLetter, isGoSpace } from './go-text.js';
import { ShellPattern } from './shell-pattern.js';

export interface ShellLexerOptions {
  /** Keep quote characters in the output (BuildKit `RawQuotes`; used to spot quoted heredoc words). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output (BuildKit `RawEscapes`). */
  rawEscapes?: boolean;
  /** Treat `'` and `"` as ordinary characters (BuildKit `SkipProcessQuotes`). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written instead of expanding them to '' (`SkipUnsetEnv`). */
  skipUnsetEnv?: boolean;
}

export interface WordExpansion {
  /** The word expanded as one string; whitespace is kept. */
  result: string;
  /** The same expansion split into words (see processWords). */
  words: string[];
  /** Variable names looked up and found (set to '' counts as found). */
  matched: Set<string>;
  /** Variable names looked up and not found. */
  unmatched: Set<string>;
}

/** `$@ $* $# $? $- $$ $! $0`: one-character names that are never set in a Dockerfile. */
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

export class ShellLexer {
  readonly escapeToken: string;
  readonly options: Readonly<Required<ShellLexerOptions>>;

  /** `escapeToken` is the Dockerfile's escape character: `\` or the `# escape=` directive's. */
  constructor(escapeToken = '\\', options: ShellLexerOptions = {}) {
    if (Array.from(escapeToken).length !== 1) {
      throw new BuilderError(
        'EINVAL',
        `invalid escape token ${JSON.stringify(escapeToken)}: must be one character`,
      );
    }
    this.escapeToken = escapeToken;
    this.options = {
      rawQuotes: options.rawQuotes ?? false,
      rawEscapes: options.rawEscapes ?? false,
      skipProcessQuotes: options.skipProcessQuotes ?? false,
      skipUnsetEnv: options.skipUnsetEnv ?? false,
    };
  }

  /** Expands `word` as one word: quotes and escapes removed, variables substituted, spaces kept. */
  processWord(word: string, env: EnvGetter): string {
    return this.expand(word, env).result;
  }

  /**
   * Expands `word` and splits it at whitespace that is unquoted and unescaped, or that comes from
   * an unquoted `$var`. Quoted text glues to the text next to it.
   */
  processWords(word: string, env: EnvGetter): string[] {
    return this.expand(word, env).words;
  }

  /** processWord, also reporting which variable names were looked up (for lint and cache keys). */
  processWordWithMatches(word: string, env: EnvGetter): WordExpansion {
    return this.expand(word, env);
  }

  /** Every view of one expansion. Errors are DockerfileErrors worded as BuildKit's. */
  expand(word: string, env: EnvGetter): WordExpansion {
    const scan = new WordScan(this, word, env);
    try {
      const { text, words } = scan.scanUntil(undefined, this.options.rawEscapes);
      return { result: text, words, matched: scan.matched, unmatched: scan.unmatched };
    } catch (err) {
      if (!(err instanceof DockerfileError)) throw err;
      throw new DockerfileError(`failed to process ${goQuote(word)}: ${err.message}`, { cause: err });
    }
  }
}

/** Collects words. `buffer` is shared by every nested scan of one word: see WordScan. */
class WordSplitter {
  readonly words: string[] = [];
  private inWord = false;

  constructor(private readonly buffer: { text: string }) {
    buffer.text = '';
  }

  addChar(ch: string): void {
    if (!isGoSpace(ch)) {
      this.addRaw(ch);
    } else if (this.inWord && this.buffer.text !== '') {
      this.words.push(this.buffer.text);
      this.buffer.text = '';
      this.inWord = false;
    }
  }

  addString(text: string): void {
    for (const ch of text) this.addChar(ch);
  }

  addRaw(text: string): void {
    this.buffer.text += text;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.buffer.text !== '') {
      this.words.push(this.buffer.text);
      this.buffer.text = '';
      this.inWord = false;
    }
    return this.words;
  }
}

/** One pass over one word, by code point. `undefined` stands for the end of the word. */
class WordScan {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  /**
   * BuildKit keeps one word buffer for all the nested scans of a word and clears it whenever a
   * `${…}` modifier or quote starts one, so in processWords the text of the current word before
   * such an expansion is lost (`a${x:-b}` gives `b`). Reproduced so word lists match BuildKit's.
   */
  private readonly sharedWord = { text: '' };

  constructor(
    private readonly lexer: ShellLexer,
    word: string,
    private readonly env: EnvGetter,
  ) {
    this.chars = Array.from(word);
    this.rawEscapes = lexer.options.rawEscapes;
    // Go's text/scanner, which BuildKit reads words with, skips a byte-order mark at the start.
    if (this.chars[0] === '\uFEFF') this.pos = 1;
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  /** Reads up to `stop` (consumed) or the end of the word when `stop` is undefined. */
  scanUntil(stop: string | undefined, rawEscapes: boolean): { text: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      const { escapeToken, options } = this.lexer;
      const words = new WordSplitter(this.sharedWord);
      let text = '';
      for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
        if (ch === stop) {
          this.next();
          return { text, words: words.finish() };
        }
        if (ch === '$') {
          const value = this.dollar();
          text += value;
          words.addString(value); // unquoted expansions are split too
          continue;
        }
        if (ch === '<' || (!options.skipProcessQuotes && (ch === "'" || ch === '"'))) {
          const value =
            ch === '<' ? this.possibleHeredoc() : ch === "'" ? this.singleQuoted() : this.doubleQuoted();
          text += value;
          words.addRaw(value);
          continue;
        }
        this.next();
        if (ch === escapeToken) {
          if (this.rawEscapes) {
            words.addRaw(ch);
            text += ch;
          }
          const escaped = this.next();
          if (escaped === undefined) break; // a lone escape at the end is dropped
          words.addRaw(escaped);
          text += escaped;
        } else {
          words.addChar(ch);
          text += ch;
        }
      }
      if (stop !== undefined) {
        throw new DockerfileError(`unexpected end of statement while looking for matching ${stop}`);
      }
      return { text, words: words.finish() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  /** `'…'`: everything literal up to the next `'`, which cannot be escaped. */
  private singleQuoted(): string {
    const raw = this.lexer.options.rawQuotes;
    let out = raw ? "'" : '';
    this.next();
    for (;;) {
      const ch = this.next();
      if (ch === undefined) {
        throw new DockerfileError('unexpected end of statement while looking for matching single-quote');
      }
      if (ch === "'") return raw ? `${out}'` : out;
      out += ch;
    }
  }

  /** `"…"`: `$` expands; the escape character escapes only `"`, `$` and itself. */
  private doubleQuoted(): string {
    const raw = this.lexer.options.rawQuotes;
    const escapeToken = this.lexer.escapeToken;
    let out = raw ? '"' : '';
    this.next();
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) {
        throw new DockerfileError('unexpected end of statement while looking for matching double-quote');
      }
      if (ch === '"') {
        this.next();
        return raw ? `${out}"` : out;
      }
      if (ch === '$') {
        out += this.dollar();
        continue;
      }
      let literal = this.next() as string;
      if (literal === escapeToken) {
        if (this.rawEscapes) out += literal;
        const after = this.peek();
        if (after === undefined) continue; // reported as the missing quote
        if (after === '"' || after === '$' || after === escapeToken) literal = this.next() as string;
      }
      out += literal;
    }
  }

  /** `<<` and the blanks after it stay one piece, so `<< EOF` is one word (heredoc detection). */
  private possibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let out = '<<';
    for (let ch = this.peek(); ch === ' ' || ch === '\t' || ch === '\r'; ch = this.peek()) {
      out += ch;
      this.next();
    }
    return out;
  }

  private lookup(name: string): string | undefined {
    const value = this.env.get(name);
    (value === undefined ? this.unmatched : this.matched).add(name);
    return value;
  }

  /** A name: letters, digits, `_`; a leading digit takes all the digits; or one special parameter. */
  private readName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && isGoDigit(ch)) {
        for (let d = this.peek(); d !== undefined && isGoDigit(d); d = this.peek()) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) {
        this.next();
        return ch;
      }
      if (ch !== '_' && !isGoLetter(ch) && !isGoDigit(ch)) break;
      name += ch;
      this.next();
    }
    return name;
  }

  private dollar(): string {
    const { skipUnsetEnv } = this.lexer.options;
    this.next();
    if (this.peek() !== '{') {
      const name = this.readName();
      if (name === '') return '$'; // `$.`, `$` at the end: a literal dollar
      const value = this.lookup(name);
      if (value === undefined && skipUnsetEnv) return `$${name}`;
      return value ?? '';
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw missingBrace();
    if (first === '{' || first === '}' || first === ':') {
      throw new DockerfileError('syntax error: bad substitution');
    }
    const name = this.readName();
    const op = this.next();
    if (op === '}') {
      const value = this.lookup(name);
      if (value === undefined && skipUnsetEnv) return `\${${name}}`;
      return value ?? '';
    }
    // BuildKit words this case "unsupported modifier (\uFFFD)" (its end-of-input rune); we say what is wrong.
    if (op === undefined) throw missingBrace();
    if (op === '/') return this.substitute(name);

    const colon = op === ':';
    const kind = colon ? this.next() : op;
    if (kind === undefined) throw missingBrace();
    const modifier = colon ? `:${kind}` : kind;
    const isTrim = kind === '#' || kind === '%';
    if (!colon && !'+-?#%'.includes(kind)) throw unsupported(modifier);
    if (colon && isTrim) throw unsupported(modifier);

    // Patterns keep their escapes (`\*` must reach the pattern compiler); other words do not.
    const word = this.scanModifierWord('}', isTrim, missingBrace);
    const value = this.lookup(name);
    if (value === undefined && skipUnsetEnv) return `\${${name}${modifier}${word}}`;
    const unset = value === undefined || (colon && value === '');
    switch (kind) {
      case '-':
        return unset ? word : (value as string);
      case '+':
        return unset ? '' : word;
      case '?':
        if (value === undefined)
          throw new DockerfileError(`${name}: ${word || 'is not allowed to be unset'}`);
        if (unset) throw new DockerfileError(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        // `##` and `%%` (the word starts with the operator again) remove the longest match.
        const longest = word.startsWith(kind);
        const pattern = new ShellPattern(longest ? word.slice(1) : word);
        return kind === '#'
          ? pattern.trimPrefix(value ?? '', longest)
          : pattern.trimSuffix(value ?? '', longest);
      }
      default:
        // `:=`, `:x`…: BuildKit reads the word (and the variable) before refusing.
        throw unsupported(modifier);
    }
  }

  /** `${name/pattern/replacement}` and `${name//pattern/replacement}`. */
  private substitute(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    const pattern = this.scanModifierWord(
      '/',
      true,
      () => new DockerfileError("syntax error: missing '/' in ${}"),
    );
    const replacement = this.scanModifierWord('}', true, missingBrace);
    const value = this.lookup(name);
    // BuildKit rebuilds the text with a single `/` even for `//`.
    if (value === undefined && this.lexer.options.skipUnsetEnv)
      return `\${${name}/${pattern}/${replacement}}`;
    const compiled = new ShellPattern(pattern);
    return all
      ? compiled.replaceAll(value ?? '', replacement)
      : compiled.replaceFirst(value ?? '', replacement);
  }

  /** Any error that leaves us at the end of the word is reported as the missing terminator. */
  private scanModifierWord(stop: string, rawEscapes: boolean, atEnd: () => DockerfileError): string {
    try {
      return this.scanUntil(stop, rawEscapes).text;
    } catch (err) {
      if (this.peek() === undefined) throw atEnd();
      throw err;
    }
  }
}

function missingBrace(): DockerfileError {
  return new DockerfileError("syntax error: missing '}'");
}

function unsupported(modifier: string): DockerfileError {
  return new DockerfileError(`unsupported modifier (${modifier}) in substitution`);
}
