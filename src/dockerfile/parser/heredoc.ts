// Heredoc markers in RUN/COPY/ADD lines. Only the markers are found here; the bodies are
// read by `parse`, line by line, after the instruction.

import { DockerfileError } from '../../errors.js';
import type { Heredoc } from './ast.js';
import { lexHeredocWords } from './heredoc-lexer.js';

// Go's `\d` and `\s` are ASCII-only. `[^<]*` keeps `<<<EOF` (a here-string) out.
const HEREDOC_WORD = /^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

function countQuotes(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === "'" || ch === '"') n++;
  return n;
}

/**
 * The heredoc opened by one shell word (`<<EOF`, `3<<-'EOF'`, `<< EOF`), with empty content;
 * undefined when the word is not a heredoc marker. Throws on an unterminated quote.
 */
export function parseHeredoc(word: string): Heredoc | undefined {
  const match = HEREDOC_WORD.exec(word);
  if (match === null) return undefined;
  const rest = match[3]!;
  if (rest === '') return undefined;
  const words = lexHeredocWords(rest, { rawQuotes: false, rawEscapes: false });
  // `<<EOF sh` (only possible when the caller did not split words) is not a marker.
  if (words.length !== 1) return undefined;
  const rawWords = lexHeredocWords(rest, { rawQuotes: true, rawEscapes: false });
  if (rawWords.length !== 1) {
    throw new DockerfileError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const name = words[0]!;
  return {
    name,
    content: '',
    // Any quoted part of the name (`<<'EOF'`, `<<E"O"F`) turns expansion off, as in sh.
    expand: countQuotes(name) === countQuotes(rawWords[0]!),
    chomp: match[2] === '-',
    fileDescriptor: match[1] === '' ? 0 : Number(match[1]),
  };
}

/**
 * The heredocs a whole instruction line opens, in order, with empty content. Quoted markers
 * (`RUN "<<EOF"`) do not count. A line the shell lexer cannot split (an unbalanced quote
 * elsewhere on it) opens none, as in BuildKit.
 *
 * One deliberate difference (see heredoc-lexer.ts): `RUN <<- EOF` opens `EOF`, as in sh.
 */
export function heredocsFromLine(line: string): Heredoc[] {
  let words: string[];
  try {
    words = lexHeredocWords(line, { rawQuotes: true, rawEscapes: true });
  } catch (err) {
    if (err instanceof DockerfileError) return [];
    throw err;
  }
  const heredocs: Heredoc[] = [];
  for (const word of words) {
    const heredoc = parseHeredoc(word);
    if (heredoc !== undefined) heredocs.push(heredoc);
  }
  return heredocs;
}

/** What a consumer does with a `<<-` body: strip the TABs that start each line (not spaces). */
export function chompHeredoc(content: string): string {
  return content.replace(/(?<=^|\n)\t+/g, '');
}
