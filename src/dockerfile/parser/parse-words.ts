// The quote-aware word splitter BuildKit uses for ENV, LABEL and ARG. It only finds word
// boundaries: quotes and escape characters stay in the words, because unquoting and variable
// expansion happen later, in the shell lexer, with the environment of the build stage.

import { isGoSpace } from './go-strings.js';

/** Split `text` into words at whitespace outside quotes, keeping quotes and escapes. */
export function parseWords(text: string, escapeToken = '\\'): string[] {
  const chars = Array.from(text);
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  // A word opened by a quote is kept even when empty (`''`).
  let blankOk = false;
  let word = '';

  for (let i = 0; i <= chars.length; i++) {
    const atEnd = i === chars.length;
    let ch = atEnd ? '' : chars[i]!;
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isGoSpace(ch)) continue;
      phase = 'word';
    }
    if (atEnd) {
      if (blankOk || word !== '') words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        if (blankOk || word !== '') words.push(word);
        phase = 'spaces';
        word = '';
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = 'quote';
      }
      if (ch === escapeToken) {
        // A lone escape at the very end is dropped; otherwise it and the next character are
        // both kept, whatever that character is (so `\"` does not open a quote).
        if (i + 1 === chars.length) continue;
        word += ch;
        ch = chars[++i]!;
      }
      word += ch;
      continue;
    }
    // Inside quotes: the escape protects the next character, except inside '...'.
    if (ch === quote) phase = 'word';
    if (ch === escapeToken && quote !== "'") {
      if (i + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      word += ch;
      ch = chars[++i]!;
    }
    word += ch;
  }
  return words;
}
