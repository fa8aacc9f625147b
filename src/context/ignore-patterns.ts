// .dockerignore pattern matching with Docker's semantics (moby/patternmatcher, which BuildKit,
// the Docker CLI and fsutil all use). Patterns are evaluated in order and the last one that hits
// decides; a pattern also hits a path when it matches one of the path's parent directories,
// which is how excluding `docs` excludes `docs/a.md`, and `!docs/README.md` brings one file back.

import { BuilderError } from '../errors.js';
import { goClean, goDir, goTrimSpace } from './go-path.js';
import { type CompiledPattern, compilePattern, isValidGlob, type MatchType } from './pattern-compile.js';

/** A pattern the matcher refused, when built or (for a bad `[...]`) when first used. */
export class IgnorePatternError extends BuilderError {
  /** The pattern as given (for a syntax error) or as cleaned. */
  readonly pattern: string;

  constructor(message: string, pattern: string) {
    super('EINVAL', message);
    this.pattern = pattern;
  }

  override get name(): string {
    return 'IgnorePatternError';
  }
}

/** Characters after which a segment is no longer a plain name (upstream's fsutil list). */
const WILDCARD = /[*?[\]\\^]/;

export class IgnorePattern {
  /** The cleaned pattern, without the leading `!`. */
  readonly pattern: string;
  /** True for `!pattern`: a hit re-includes the path. */
  readonly exclusion: boolean;
  readonly matchType: MatchType;
  /** The pattern's `/`-separated segments. */
  readonly dirs: readonly string[];
  private readonly compiled: CompiledPattern;

  constructor(pattern: string, exclusion: boolean) {
    this.pattern = pattern;
    this.exclusion = exclusion;
    this.dirs = pattern.split('/');
    this.compiled = compilePattern(pattern);
    this.matchType = this.compiled.matchType;
  }

  /** Whether the pattern itself matches `path` (no parent-directory logic). */
  match(path: string): boolean {
    switch (this.compiled.matchType) {
      case 'exact':
        return path === this.pattern;
      case 'prefix':
        return path.startsWith(this.pattern.slice(0, -2));
      case 'suffix': {
        // `**/foo` also matches `foo` itself.
        const suffix = this.pattern.slice(2);
        return path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
      }
      case 'regexp':
        if (this.compiled.regexp === undefined) {
          throw new IgnorePatternError(
            `syntax error in pattern ${JSON.stringify(this.pattern)}`,
            this.pattern,
          );
        }
        return this.compiled.regexp.test(path);
    }
  }

  /**
   * False only when no path strictly inside directory `dir` can match: the leading plain segments
   * of the pattern lead elsewhere. A walker may then skip `dir` without changing its result.
   */
  couldMatchInside(dir: string): boolean {
    const plain = this.dirs.findIndex((segment) => WILDCARD.test(segment));
    const dirSlash = `${dir}/`;
    if (plain < 0) return this.pattern.startsWith(dirSlash);
    if (plain === 0) return true;
    const leadSlash = `${this.dirs.slice(0, plain).join('/')}/`;
    return leadSlash.startsWith(dirSlash) || dirSlash.startsWith(leadSlash);
  }

  toString(): string {
    return this.exclusion ? `!${this.pattern}` : this.pattern;
  }
}

/** Per pattern: did it hit this directory? Carried from a directory to its entries by a walker. */
export type MatchInfo = readonly boolean[];

export class PatternMatcher {
  readonly patterns: readonly IgnorePattern[];
  /** True when some pattern is an `!` exception. */
  readonly hasExclusions: boolean;

  /**
   * Each pattern is trimmed (blank ones dropped), Go-cleaned (`docs/` is `docs`, `./a` is `a`), and
   * checked with Go's filepath.Match rules. A leading `/` is NOT removed here: the .dockerignore
   * reader does that. Throws IgnorePatternError.
   */
  constructor(patterns: Iterable<string>) {
    const out: IgnorePattern[] = [];
    for (const raw of patterns) {
      let pattern = goTrimSpace(raw);
      if (pattern === '') continue;
      pattern = goClean(pattern);
      let exclusion = false;
      if (pattern.startsWith('!')) {
        if (pattern.length === 1) throw new IgnorePatternError('illegal exclusion pattern: "!"', raw);
        exclusion = true;
        pattern = pattern.slice(1);
      }
      if (!isValidGlob(pattern)) {
        throw new IgnorePatternError(`syntax error in pattern ${JSON.stringify(pattern)}`, raw);
      }
      out.push(new IgnorePattern(pattern, exclusion));
    }
    this.patterns = out;
    this.hasExclusions = out.some((p) => p.exclusion);
  }

  /** Is `path` (slash-separated, relative, as given) ignored? The semantics Docker uses today. */
  matchesOrParentMatches(path: string): boolean {
    const parents = parentPrefixes(path);
    let matched = false;
    for (const p of this.patterns) {
      // Only a normal pattern can turn a miss into a hit, only an exception the reverse.
      if (p.exclusion !== matched) continue;
      if (p.match(path) || parents.some((parent) => p.match(parent))) matched = !p.exclusion;
    }
    return matched;
  }

  /**
   * matchesOrParentMatches for a walker that visits a directory before its entries: `parent` is
   * what this returned for the directory containing `path` (omit it at the top level). A pattern
   * that hit the directory hits the entry without being tried again, whatever came before it;
   * this is what fsutil does and differs from matchesOrParentMatches in rare orderings.
   */
  matchesUsingParentResults(path: string, parent?: MatchInfo): { matched: boolean; info: MatchInfo } {
    if (parent !== undefined && parent.length !== 0 && parent.length !== this.patterns.length) {
      throw new BuilderError('EINTERNAL', 'match info from another pattern list');
    }
    const known = parent !== undefined && parent.length !== 0;
    // Without the directory's results, the parents are tried as matchesOrParentMatches does.
    let parents: string[] | undefined;
    const info = new Array<boolean>(this.patterns.length).fill(false);
    let matched = false;
    for (const [i, p] of this.patterns.entries()) {
      let hit = known && parent[i] === true;
      if (!hit) {
        if (p.exclusion !== matched) continue;
        hit = p.match(path);
        if (!hit && !known) {
          parents ??= parentPrefixes(path);
          hit = parents.some((prefix) => p.match(prefix));
        }
      }
      info[i] = hit;
      if (hit) matched = !p.exclusion;
    }
    return { matched, info };
  }

  /**
   * Upstream's deprecated PatternMatcher.Matches: like matchesOrParentMatches but tries only the
   * one parent directory that has as many segments as the pattern. Kept for compatibility tests.
   */
  matches(path: string): boolean {
    const parent = goDir(path);
    const parentDirs = parent.split('/');
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let hit = p.match(path);
      if (!hit && parent !== '.' && p.dirs.length <= parentDirs.length) {
        hit = p.match(parentDirs.slice(0, p.dirs.length).join('/'));
      }
      if (hit) matched = !p.exclusion;
    }
    return matched;
  }
}

/** `a`, `a/b` for `a/b/c` (Go's filepath.Dir, split); none for a top-level name. */
function parentPrefixes(path: string): string[] {
  const parent = goDir(path);
  if (parent === '.') return [];
  const segments = parent.split('/');
  return segments.map((_, i) => segments.slice(0, i + 1).join('/'));
}

/** Upstream's deprecated package-level Matches: cleans the path and never ignores `.`. */
export function legacyMatches(path: string, patterns: Iterable<string>): boolean {
  const matcher = new PatternMatcher(patterns);
  const cleaned = goClean(path);
  return cleaned === '.' ? false : matcher.matches(cleaned);
}
