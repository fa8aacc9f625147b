// What a command is to the CLI shell: its help (kept here so `--help` loads nothing else)
// and a lazy loader for its implementation, so start-up pays only for the command run.

import type { Readable, Writable } from 'node:stream';
import type { OptionSpec, ParsedArgs } from './args.js';

export interface CommandContext {
  args: ParsedArgs;
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  signal: AbortSignal;
  /** The words after `strata` as given, global flags included (the build memo's key). */
  argv?: readonly string[];
}

export interface CommandModule {
  run(ctx: CommandContext): Promise<number>;
}

export interface CommandDef {
  /** Words after `strata`: `build`, or `dockerfile dump`. */
  path: string[];
  usage: string;
  summary: string;
  options: OptionSpec[];
  /** Positional argument bounds, checked before the implementation loads. */
  minArgs?: number;
  maxArgs?: number;
  stopAtFirstPositional?: boolean;
  /** Internal commands (the detached container's supervisor) stay out of help. */
  hidden?: boolean;
  load: () => Promise<CommandModule>;
}

export interface CommandGroup {
  /** Management command name (`dockerfile`, `system`, `image`). */
  name: string;
  summary: string;
}
