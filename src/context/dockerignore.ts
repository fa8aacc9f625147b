// Reading .dockerignore files (moby/patternmatcher's ignorefile, as BuildKit uses it) and
// choosing which one applies to a build.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BuilderError, DockerfileError } from '../errors.js';
import { goClean, goTrimSpace } from './go-path.js';
import { IgnorePatternError, PatternMatcher } from './ignore-patterns.js';

export const DOCKERIGNORE_NAME = '.dockerignore';

export interface IgnoreFileEntry {
  /** The pattern as the matcher gets it (`!` kept, cleaned, no leading `/`). */
  pattern: string;
  /** 1-based line number in the file. */
  line: number;
  /** The line as written (without its line break). */
  text: string;
}

/**
 * The .dockerignore reader, line by line: a UTF-8 BOM on the first line is dropped; a line whose
 * FIRST character is `#` is a comment (an indented `#` is a pattern); lines are trimmed and blank
 * ones skipped; after a leading `!` the rest is trimmed again; the pattern is Go-cleaned and one
 * leading `/` removed. There is no line continuation and no way to escape a leading `#`.
 */
export function parseIgnoreFileEntries(content: string | Uint8Array): IgnoreFileEntry[] {
  const text =
    typeof content === 'string' ? content : new TextDecoder('utf-8', { ignoreBOM: true }).decode(content);
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop(); // the final line break ends the last line, it does not start one
  const out: IgnoreFileEntry[] = [];
  for (const [index, raw] of lines.entries()) {
    // Go's bufio line scanner drops the `\r` of a CRLF.
    let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (index === 0 && line.startsWith('\uFEFF')) line = line.slice(1);
    if (line.startsWith('#')) continue;
    let pattern = goTrimSpace(line);
    if (pattern === '') continue;
    const invert = pattern.startsWith('!');
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern !== '') {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    // A bare `!` stays `!`: the matcher rejects it, and that must fail the build.
    out.push({ pattern: invert ? `!${pattern}` : pattern, line: index + 1, text: line });
  }
  return out;
}

/** parseIgnoreFileEntries, patterns only. */
export function parseIgnoreFile(content: string | Uint8Array): string[] {
  return parseIgnoreFileEntries(content).map((entry) => entry.pattern);
}

export interface IgnorePatterns {
  /** Exclude patterns for the context walk, in file order. */
  patterns: string[];
  /** The file they were read from; undefined when there was none. */
  file: string | undefined;
}

/** Where a build's .dockerignore may be, first found wins (see loadIgnorePatterns). */
export function ignoreFileCandidates(contextDir: string, dockerfilePath?: string): string[] {
  const inContext = join(resolve(contextDir), DOCKERIGNORE_NAME);
  return dockerfilePath === undefined
    ? [inContext]
    : [`${resolve(dockerfilePath)}${DOCKERIGNORE_NAME}`, inContext];
}

/**
 * The exclude patterns for a build, as BuildKit picks them: `<Dockerfile>.dockerignore` beside the
 * Dockerfile if it exists (even when empty), else `<context>/.dockerignore`, else none.
 * `dockerfilePath` is a file-system path (relative ones resolve against the working directory).
 * Every pattern is checked, so a bad one (a lone `!`, an unclosed `[`) fails here with its line.
 */
export async function loadIgnorePatterns(
  contextDir: string,
  dockerfilePath?: string,
): Promise<IgnorePatterns> {
  for (const file of ignoreFileCandidates(contextDir, dockerfilePath)) {
    const bytes = await readIfPresent(file);
    if (bytes === undefined) continue;
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
    const entries = parseIgnoreFileEntries(text);
    for (const entry of entries) checkPattern(entry, file, text);
    return { patterns: entries.map((e) => e.pattern), file };
  }
  return { patterns: [], file: undefined };
}

async function readIfPresent(file: string): Promise<Uint8Array | undefined> {
  try {
    return readFileSync(file); // small, and read at every build: no thread-pool round trips
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    // BuildKit ignores every read error here; we would rather not send files the user meant to hide.
    throw new BuilderError('EPRECONDITION', `reading ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function checkPattern(entry: IgnoreFileEntry, file: string, source: string): void {
  try {
    new PatternMatcher([entry.pattern]);
  } catch (err) {
    if (!(err instanceof IgnorePatternError)) throw err;
    throw new DockerfileError(err.message, {
      file,
      source,
      ranges: [
        {
          start: { line: entry.line, character: 0 },
          end: { line: entry.line, character: entry.text.length },
        },
      ],
      hint: entry.pattern === '!' ? 'a "!" line needs the pattern to re-include after it' : undefined,
      cause: err,
    });
  }
}
