// Go's character classes, which BuildKit's lexer uses and JS spells differently: shared with
// the parser (../parser/go-strings.ts), as `%q` quoting is (../parser/go-quote.ts).

export { goQuote } from '../parser/go-quote.js';
export { isGoDigit, isGoLetter, isGoSpace } from '../parser/go-strings.js';
