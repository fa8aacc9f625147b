// Which paths of a build context are visible through include/exclude patterns, after fsutil's
// FilterFS (what BuildKit sends the context through): include patterns select (like COPY's
// sources), exclude patterns are the .dockerignore list.

import { BuilderError } from '../errors.js';
import { IgnorePatternError, PatternMatcher } from './ignore-patterns.js';

export interface ContextFilterOptions {
  /** Keep only paths matching one of these (and the directories leading to them). Absent: everything. */
  include?: readonly string[];
  /** Drop paths matching these; `!` patterns are exceptions. Absent: nothing. */
  exclude?: readonly string[];
}

export class ContextFilter {
  /** Undefined when no include patterns were given. A list of only blank patterns includes nothing. */
  readonly include: PatternMatcher | undefined;
  readonly exclude: PatternMatcher | undefined;

  /** Throws a BuilderError (EINVAL) when a pattern is malformed, e.g. a lone `!`. */
  constructor(options: ContextFilterOptions = {}) {
    this.include = matcher(options.include, 'include');
    this.exclude = matcher(options.exclude, 'exclude');
  }

  /**
   * Whether `path` (slash-separated, relative) can be opened through the filter, as fsutil's
   * FilterFS.Open decides: a hit on the path or any parent directory counts.
   */
  allows(path: string): boolean {
    if (this.include !== undefined && !this.include.matchesOrParentMatches(path)) return false;
    return this.exclude === undefined || !this.exclude.matchesOrParentMatches(path);
  }

  /** False when no path strictly inside `dir` can be included (a walker may skip it). */
  includeCouldMatchInside(dir: string): boolean {
    return (
      this.include === undefined || this.include.patterns.some((p) => !p.exclusion && p.couldMatchInside(dir))
    );
  }

  /** False when no exception can re-include a path strictly inside the excluded `dir`. */
  exceptionCouldMatchInside(dir: string): boolean {
    return this.exclude?.patterns.some((p) => p.exclusion && p.couldMatchInside(dir)) === true;
  }
}

function matcher(patterns: readonly string[] | undefined, what: string): PatternMatcher | undefined {
  if (patterns === undefined || patterns.length === 0) return undefined;
  try {
    return new PatternMatcher(patterns);
  } catch (err) {
    if (!(err instanceof IgnorePatternError)) throw err;
    throw new BuilderError('EINVAL', `invalid ${what} patterns: ${err.message}`, { cause: err });
  }
}
