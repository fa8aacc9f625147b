// Running the `strata` front program (native/build/Release/strata) in tests of the build memo:
// as a user would, and with no node on its PATH, where it can only succeed by answering from a
// memo record (build-memo.test.ts, edit-replay.test.ts).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { FRONT_PROGRAM } from './cli-paths.js';

export interface FrontRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `dir` and `env` are read at each call: tests set them up in before(). */
export function frontProgram(dir: () => string, env: () => NodeJS.ProcessEnv) {
  const run = (args: string[], extra: NodeJS.ProcessEnv = {}): FrontRun => {
    const r = spawnSync(FRONT_PROGRAM, args, {
      cwd: dir(),
      env: { ...env(), ...extra },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    run,
    /** With no node to start: it succeeds only by answering from a memo. */
    answer: (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      run(args, { ...extra, PATH: join(dir(), 'no-such-dir') }),
    /** Runs and must succeed: its stdout, trimmed. */
    built: (args: string[], extra: NodeJS.ProcessEnv = {}) => {
      const r = run(args, extra);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    },
    /** A build through the CLI leaves a memo only when the context's last change is older than
     * its start by more than the racy margin (100 ms on these filesystems). */
    settle: () => {
      spawnSync('sleep', ['0.25']);
    },
  };
}
