// Imports point one way (ARCHITECTURE.md §5): this test reads every import specifier under
// src/ and fails on an arrow that points up, or on a folder the table does not know.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/conformance.js';

/** module → the modules it may import (besides itself). `node:` marks permission for Node built-ins. */
const ALLOWED: Record<string, string[]> = {
  errors: [],
  sys: ['errors', 'node:'], // our native addon: mount, mknod, xattrs
  digest: ['errors', 'sys', 'node:'], // sys: SHA-256 through the addon (no node:crypto at start)
  oci: ['errors', 'digest', 'node:'],
  reference: ['errors', 'digest'],
  dockerfile: ['errors'], // pure: no node: built-ins, no I/O
  context: ['errors', 'digest', 'dockerfile', 'node:'],
  archive: [
    'errors',
    'digest',
    'sys',
    'node:',
    'npm:zstd-napi/binding.js', // zstd (Node 20's zlib has none): compress and decompress
    'npm:unbzip2-stream', // bzip2 decompression (ADD, load, import)
    'npm:xz-decompress', // xz decompression (ADD, load, import)
  ],
  store: ['errors', 'digest', 'oci', 'reference', 'archive', 'sys', 'node:'],
  image: ['errors', 'digest', 'oci', 'reference', 'archive', 'store', 'node:'],
  snapshot: ['errors', 'digest', 'archive', 'sys', 'node:'],
  runtime: ['errors', 'sys', 'node:'],
  rootfs: ['errors', 'digest', 'oci', 'archive', 'snapshot', 'runtime', 'store', 'sys', 'node:'],
  container: [
    'errors',
    'digest',
    'oci',
    'reference',
    'rootfs',
    'snapshot',
    'runtime',
    'store',
    'image',
    'sys',
    'node:',
  ],
  auth: ['errors', 'reference', 'node:'],
  registry: ['errors', 'digest', 'oci', 'reference', 'auth', 'image', 'store', 'node:'],
  transfer: ['errors', 'digest', 'oci', 'reference', 'archive', 'image', 'store', 'node:'],
  build: [
    'errors',
    'digest',
    'oci',
    'reference',
    'dockerfile',
    'context',
    'archive',
    'store',
    'image',
    'snapshot',
    'rootfs',
    'runtime',
    'sys',
    'registry',
    'auth',
    'transfer',
    'node:',
  ],
  index: ['*'],
  cli: ['*'],
};

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith('.ts')) yield p;
  }
}

function moduleOf(srcRelative: string): string {
  const first = srcRelative.split(sep)[0] as string;
  return first.replace(/\.(ts|js)$/, '');
}

test('imports point one way between src/ modules', () => {
  const src = join(repoRoot, 'src');
  const violations: string[] = [];
  for (const file of tsFiles(src)) {
    const from = moduleOf(relative(src, file));
    const allowed = ALLOWED[from];
    if (!allowed) {
      violations.push(
        `${relative(repoRoot, file)}: module "${from}" is not in the table of this test; add it with its allowed imports`,
      );
      continue;
    }
    if (allowed.includes('*')) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
    )) {
      const spec = (m[1] ?? m[2]) as string;
      let to: string;
      if (spec.startsWith('node:')) to = 'node:';
      else if (spec.startsWith('.')) to = moduleOf(relative(src, resolve(dirname(file), spec)));
      else to = `npm:${spec}`;
      if (to === from) continue;
      if (to.startsWith('npm:')) {
        // Third-party packages are allowed only where a module declares them.
        if (!allowed.includes(to)) violations.push(`${relative(repoRoot, file)} imports package ${spec}`);
        continue;
      }
      if (!allowed.includes(to))
        violations.push(`${relative(repoRoot, file)} (${from}) imports ${spec} (${to})`);
    }
  }
  assert.deepEqual(violations, []);
});

test('the dockerfile front end is pure and its tests can load it without I/O', () => {
  const dir = join(repoRoot, 'src', 'dockerfile');
  for (const file of tsFiles(dir)) {
    assert.doesNotMatch(
      readFileSync(file, 'utf8'),
      /from\s+['"]node:/,
      `${file} must not import Node built-ins`,
    );
  }
});
