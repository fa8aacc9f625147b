// Node built-ins that most commands never use, loaded when first called for. A static import
// loads a built-in at every start of every command whose module graph reaches it: node:zlib
// ~2 ms, node:child_process ~3 ms (with net and stream), which a one-file COPY edit pays for
// nothing.

import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export const zlib = (): typeof import('node:zlib') => load('node:zlib');
export const childProcess = (): typeof import('node:child_process') => load('node:child_process');
