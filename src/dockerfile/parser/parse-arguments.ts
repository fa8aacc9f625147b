// Turns the argument text of one instruction into the argument nodes BuildKit's dump shows.
// Each keyword has a fixed shape (whitespace list, one string, JSON-or-string, key/value...);
// the meaning of the arguments is the next layer's business.

import { DockerfileError } from '../../errors.js';
import { goQuote } from './go-quote.js';
import { isGoSpace, trimLeftGoSpace } from './go-strings.js';
import { parseJsonArray } from './json-array.js';
import { parseWords } from './parse-words.js';

export interface ParsedArguments {
  args: string[];
  /** True when the arguments came from a JSON array (exec form). */
  json: boolean;
}

type ArgumentParser = (rest: string, escapeToken: string) => ParsedArguments;

const ASCII_BLANKS = /[\t\v\f\r ]+/;

function shape(args: string[], json = false): ParsedArguments {
  return { args, json };
}

/** FROM, EXPOSE: split on blanks; quotes mean nothing. */
function whitespaceList(rest: string): ParsedArguments {
  return shape(rest === '' ? [] : rest.split(ASCII_BLANKS));
}

/** MAINTAINER, USER, WORKDIR, STOPSIGNAL: the text verbatim. */
function verbatim(rest: string): ParsedArguments {
  return shape(rest === '' ? [] : [rest]);
}

/** RUN, CMD, ENTRYPOINT, SHELL: exec form, or the text verbatim for a shell. */
function jsonOrVerbatim(rest: string): ParsedArguments {
  if (rest === '') return shape([]);
  const array = parseJsonArray(rest);
  return array === undefined ? shape([rest]) : shape(array, true);
}

/** ADD, COPY, VOLUME: exec form, or a whitespace list. */
function jsonOrWhitespaceList(rest: string): ParsedArguments {
  const array = parseJsonArray(rest);
  return array === undefined ? whitespaceList(rest) : shape(array, true);
}

/** ARG: quote-aware words, kept whole (`a="b c"` is one node, not split at `=`). */
function words(rest: string, escapeToken: string): ParsedArguments {
  return shape(parseWords(rest, escapeToken));
}

/**
 * ENV, LABEL. Legacy `KEY name value` (first word has no `=`): nodes name, value, "".
 * Modern `KEY a=1 b=2`: nodes a, 1, "=", b, 2, "=". Quotes stay in the values.
 */
function keyValues(instruction: 'ENV' | 'LABEL'): ArgumentParser {
  return (rest, escapeToken) => {
    const list = parseWords(rest, escapeToken);
    if (list.length === 0) return shape([]);
    if (!list[0]!.includes('=')) {
      const blank = ASCII_BLANKS.exec(rest);
      if (blank === null) throw new DockerfileError(`${instruction} must have two arguments`);
      return shape([rest.slice(0, blank.index), rest.slice(blank.index + blank[0].length), '']);
    }
    const args: string[] = [];
    for (const word of list) {
      const eq = word.indexOf('=');
      if (eq < 0) {
        throw new DockerfileError(
          `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`,
        );
      }
      args.push(word.slice(0, eq), word.slice(eq + 1), '=');
    }
    return shape(args);
  };
}

/** HEALTHCHECK: the type word (CMD, NONE, ...), then the command like CMD's. */
function healthcheck(rest: string): ParsedArguments {
  const chars = Array.from(rest);
  let sep = 0;
  while (sep < chars.length && !isGoSpace(chars[sep]!)) sep++;
  if (sep === 0) return shape([]);
  const type = chars.slice(0, sep).join('');
  const command = jsonOrVerbatim(trimLeftGoSpace(chars.slice(sep).join('')));
  return shape([type, ...command.args], command.json);
}

// A Map, not an object literal: an unknown keyword like `constructor` must not find anything.
const ARGUMENT_PARSERS: ReadonlyMap<string, ArgumentParser> = new Map<string, ArgumentParser>([
  ['add', jsonOrWhitespaceList],
  ['arg', words],
  ['cmd', jsonOrVerbatim],
  ['copy', jsonOrWhitespaceList],
  ['entrypoint', jsonOrVerbatim],
  ['env', keyValues('ENV')],
  ['expose', whitespaceList],
  ['from', whitespaceList],
  ['healthcheck', healthcheck],
  ['label', keyValues('LABEL')],
  ['maintainer', verbatim],
  ['run', jsonOrVerbatim],
  ['shell', jsonOrVerbatim],
  ['stopsignal', verbatim],
  ['user', verbatim],
  ['volume', jsonOrWhitespaceList],
  ['workdir', verbatim],
]);

/**
 * Argument nodes for a (lower-cased) keyword. ONBUILD is not handled here: it nests a whole
 * instruction. Unknown keywords get one empty argument, as in BuildKit (`FOO x` → `(foo "")`).
 */
export function parseArguments(keyword: string, rest: string, escapeToken: string): ParsedArguments {
  const parser = ARGUMENT_PARSERS.get(keyword);
  return parser === undefined ? shape(['']) : parser(rest, escapeToken);
}
