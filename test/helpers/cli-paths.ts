// Where the built CLI is, for tests that run it as users do.

import { join } from 'node:path';
import { repoRoot } from './conformance.js';

/** The bundled CLI (`node dist/strata.cjs`), built by `npm run build`. */
export const CLI_LAUNCHER = join(repoRoot, 'dist', 'strata.cjs');
/** The `strata` front program (native/strata_front.c), built by `npm run build:native`. */
export const FRONT_PROGRAM = join(repoRoot, 'native', 'build', 'Release', 'strata');
