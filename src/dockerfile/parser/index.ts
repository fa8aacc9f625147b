// The Dockerfile parser: text → syntax tree (no meaning yet), plus BuildKit's dump format.

export type { Heredoc, InstructionNode, ParseResult, ParserDirectives, ParserWarning } from './ast.js';
export { type DetectedDirective, detectSyntax, parseDirective } from './detect-syntax.js';
export { type Directive, type DirectiveName, DirectiveParser, parseDirectives } from './directives.js';
export { dump } from './dump.js';
export { goQuote } from './go-quote.js';
export { chompHeredoc, heredocsFromLine, parseHeredoc } from './heredoc.js';
export { NOT_STRING_ARRAY, parseJsonArray } from './json-array.js';
export { type ParseOptions, parse } from './parse.js';
export { parseWords } from './parse-words.js';
