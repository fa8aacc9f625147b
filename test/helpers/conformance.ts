// Finds the conformance corpus shared by the team (../shared/conformance beside the repo, or
// $CONFORMANCE_DIR). It is never copied into the repo, and its absence fails loudly.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this module with package.json and src/
 * (dist/test/helpers → three up), else the working directory (tests compiled elsewhere). */
export const repoRoot = findRepoRoot();

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export function conformanceDir(): string {
  const candidates = [
    process.env.CONFORMANCE_DIR,
    join(repoRoot, '..', 'shared', 'conformance'),
    join(repoRoot, 'shared', 'conformance'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  for (const dir of candidates) {
    if (existsSync(join(dir, 'README.md'))) return dir;
  }
  throw new Error(
    `conformance corpus not found (looked in ${candidates.join(', ')}); ` +
      'set CONFORMANCE_DIR or place shared/conformance beside the repository. Conformance tests never skip.',
  );
}

export function conformancePath(...parts: string[]): string {
  return join(conformanceDir(), ...parts);
}

export async function readConformanceJson<T = unknown>(...parts: string[]): Promise<T> {
  return JSON.parse(await readFile(conformancePath(...parts), 'utf8')) as T;
}

/** Bytes decoded as UTF-8 with no newline translation, as the corpus README asks. */
export async function readConformanceText(...parts: string[]): Promise<string> {
  return new TextDecoder('utf-8').decode(await readFile(conformancePath(...parts)));
}
