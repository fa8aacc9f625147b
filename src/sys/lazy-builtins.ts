// Node built-ins that most commands never use, loaded when first called for. A static import
// loads a built-in at every start of every command whose module graph reaches it: node:zlib
// ~2 ms, node:child_process ~3 ms (with net and stream), node:crypto ~3 ms, which a one-file
// COPY edit pays for nothing. (Its hashing and random names go through the addon: sys/native.ts.)

import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export const zlib = (): typeof import('node:zlib') => load('node:zlib');
export const childProcess = (): typeof import('node:child_process') => load('node:child_process');
export const crypto = (): typeof import('node:crypto') => load('node:crypto');
export const stream = (): typeof import('node:stream') => load('node:stream');
