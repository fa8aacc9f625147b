// The build context: .dockerignore files, pattern matching, and the filtered walk.

export { ContextFilter, type ContextFilterOptions } from './context-filter.js';
export {
  DOCKERIGNORE_NAME,
  type IgnoreFileEntry,
  type IgnorePatterns,
  ignoreFileCandidates,
  loadIgnorePatterns,
  parseIgnoreFile,
  parseIgnoreFileEntries,
} from './dockerignore.js';
export { goClean } from './go-path.js';
export {
  IgnorePattern,
  IgnorePatternError,
  legacyMatches,
  type MatchInfo,
  PatternMatcher,
} from './ignore-patterns.js';
export type { MatchType } from './pattern-compile.js';
export {
  type ContextEntry,
  type ContextEntryType,
  compareByteOrder,
  type WalkContextOptions,
  type WalkCounters,
  walkContext,
} from './walk.js';
