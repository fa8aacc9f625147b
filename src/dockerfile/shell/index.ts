// Word lexing and variable expansion for Dockerfile instructions (pure: no Node built-ins).

export { type EnvGetter, type EnvListOptions, envFromList, envFromRecord } from './env.js';
export { ShellLexer, type ShellLexerOptions, type WordExpansion } from './shell-lexer.js';
export { ShellPattern } from './shell-pattern.js';
