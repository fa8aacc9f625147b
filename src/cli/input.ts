// Reading a named file or `-` (stdin), for commands that take either.

import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { BuilderError } from '../errors.js';

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

export async function readFileOrStdin(
  path: string,
  stdin: Readable,
): Promise<{ name: string; text: string }> {
  if (path === '-') return { name: '<stdin>', text: new TextDecoder().decode(await readAll(stdin)) };
  try {
    return { name: path, text: new TextDecoder().decode(await readFile(path)) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BuilderError('ENOTFOUND', `${path}: no such file`, { cause: err });
    if (code === 'EISDIR') throw new BuilderError('EINVAL', `${path}: is a directory, not a Dockerfile`);
    throw err;
  }
}
