#!/usr/bin/env node
// The `strata` users run (dist/strata.cjs, built by scripts/bundle.mjs): it runs the whole CLI,
// bundled into dist/strata-bundle.cjs, through a V8 code cache (see code-cache.ts).

import { fileURLToPath } from 'node:url';
import { commandWord, defaultCacheDir, runBundle } from './code-cache.js';

runBundle(fileURLToPath(new URL('strata-bundle.cjs', import.meta.url)), {
  cacheDir: defaultCacheDir(process.env),
  command: commandWord(process.argv.slice(2)),
});
