// The Dockerfile front end: text → syntax tree → stages of typed instructions. Pure: no I/O.

import { DockerfileError } from '../errors.js';
import { toStages } from './instructions/stages.js';
import type { ParsedDockerfile } from './instructions/types.js';
import { parse } from './parser/parse.js';

export type * from './instructions/types.js';
export type * from './parser/ast.js';

/** Parses a whole Dockerfile. Errors carry the file name and source so they can be quoted. */
export function parseDockerfile(text: string, options: { file?: string } = {}): ParsedDockerfile {
  const file = options.file ?? 'Dockerfile';
  try {
    return toStages(parse(text, { file }));
  } catch (err) {
    if (err instanceof DockerfileError) throw err.withFile(file, text);
    throw err;
  }
}
