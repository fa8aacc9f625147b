// Exec-form detection: `CMD ["a", "b"]`. Text that is not a valid JSON array silently stays
// shell form (`CMD [oops` runs `[oops` in a shell); only a VALID array holding something other
// than strings is an error, because the user clearly meant exec form.

import { DockerfileError } from '../../errors.js';
import { trimLeftGoSpace } from './go-strings.js';

export const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

// Go's decoder gives up (so: shell form) past this many nested arrays/objects.
const GO_MAX_NESTING = 10000;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

/**
 * The strings of a JSON array of strings, or undefined when `text` (left-trimmed) does not
 * start with `[` or is not valid JSON. Throws a DockerfileError for a valid array with a
 * non-string element.
 */
export function parseJsonArray(text: string): string[] | undefined {
  text = trimLeftGoSpace(text);
  if (!text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || nestingDepth(text) > GO_MAX_NESTING) return undefined;
  const strings: string[] = [];
  for (const element of value) {
    if (typeof element !== 'string') throw new DockerfileError(NOT_STRING_ARRAY);
    // Go decodes an unpaired `\uD800` escape to U+FFFD; JSON.parse keeps the lone surrogate.
    strings.push(element.replace(LONE_SURROGATE, '\uFFFD'));
  }
  return strings;
}
