// Splits a logical instruction line into keyword, `--flags` and the remaining argument text.
// Flags are not validated here (`unknown flag` is the next layer's error), but they ARE
// unquoted here, unlike arguments: `--label="a b"` becomes `--label=a b`.

import { isGoSpace, trimGoSpace } from './go-strings.js';

export interface SplitCommand {
  /** The keyword as written (not lower-cased). */
  keyword: string;
  flags: string[];
  /** The argument text after the flags, trimmed. */
  rest: string;
}

// Keyword and arguments are separated by ASCII blanks only (no newline: lines are joined).
const KEYWORD_SEPARATOR = /[\t\v\f\r ]+/;

export function splitCommand(line: string, escapeToken: string): SplitCommand {
  const trimmed = trimGoSpace(line);
  const separator = KEYWORD_SEPARATOR.exec(trimmed);
  if (separator === null) return { keyword: trimmed, flags: [], rest: '' };
  const { rest, flags } = extractFlags(trimmed.slice(separator.index + separator[0].length), escapeToken);
  return { keyword: trimmed.slice(0, separator.index), flags, rest: trimGoSpace(rest) };
}

/**
 * Take the leading words that start with `--` off `text`. A word that is exactly `--` ends
 * the flags and is dropped.
 *
 * BuildKit walks bytes here, which mangles non-ASCII flag values (`é` comes out as `Ã©`) and
 * treats the UTF-8 continuation bytes 0x85/0xA0 as whitespace. We walk code points instead:
 * the same result for ASCII, and no mojibake for the rest.
 */
export function extractFlags(text: string, escapeToken: string): { rest: string; flags: string[] } {
  const chars = Array.from(text);
  const flags: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOk = false;
  let word = '';
  // Offset in UTF-16 units of chars[i], to cut `rest` out of `text`.
  let offset = 0;

  for (let i = 0; i <= chars.length; offset += chars[i]?.length ?? 0, i++) {
    const atEnd = i === chars.length;
    let ch = atEnd ? '' : chars[i]!;
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isGoSpace(ch)) continue;
      if (ch !== '-' || chars[i + 1] !== '-') return { rest: text.slice(offset), flags };
      phase = 'word';
    }
    if (atEnd) {
      if (word !== '--' && (blankOk || word !== '')) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        if (word === '--') return { rest: text.slice(offset), flags };
        if (blankOk || word !== '') flags.push(word);
        phase = 'spaces';
        word = '';
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = 'quote';
        continue;
      }
      if (ch === escapeToken) {
        if (i + 1 === chars.length) continue;
        offset += ch.length;
        ch = chars[++i]!;
      }
      word += ch;
      continue;
    }
    // Inside quotes (either kind, unlike parseWords) the escape takes the next character.
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === escapeToken) {
      if (i + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      offset += ch.length;
      ch = chars[++i]!;
    }
    word += ch;
  }
  return { rest: '', flags };
}
