// Typed instructions: one member of a discriminated union per Dockerfile instruction.
// Values are kept as written (unexpanded): the build engine expands them with the
// stage's environment at the moment each step runs, as BuildKit does.

import type { SourceRange } from '../../errors.js';
import type { Heredoc } from '../parser/ast.js';

interface Common {
  /** Where the instruction stands in the Dockerfile (lines 1-based, columns 0-based). */
  range: SourceRange;
  /** The logical source line as written, for history and messages. */
  original: string;
}

export interface KeyValue {
  key: string;
  value: string;
  /** True for the legacy `ENV key value` / `LABEL key value` form: the value is taken as one word. */
  legacy?: boolean;
}

export interface FromInstruction extends Common {
  kind: 'from';
  image: string;
  /** The stage name after AS, lower-cased. */
  stageName?: string;
  platform?: string;
}

/** A command in exec form (`["a","b"]`) or shell form (one string, run through SHELL). */
export interface CommandLine {
  args: string[];
  /** True for the shell form: the engine prepends SHELL (default `/bin/sh -c`). */
  prependShell: boolean;
}

export interface RunInstruction extends Common, CommandLine {
  kind: 'run';
  /** Raw `--mount` specs; see mount.ts for their typed form. */
  mounts: string[];
  network?: string;
  security?: string;
  /** Heredocs of the line: the first may be the script itself (`RUN <<EOF`). */
  heredocs: Heredoc[];
}

export interface CmdInstruction extends Common, CommandLine {
  kind: 'cmd';
}

export interface EntrypointInstruction extends Common, CommandLine {
  kind: 'entrypoint';
}

export interface ShellInstruction extends Common {
  kind: 'shell';
  shell: string[];
}

export interface LabelInstruction extends Common {
  kind: 'label';
  labels: KeyValue[];
}

export interface MaintainerInstruction extends Common {
  kind: 'maintainer';
  maintainer: string;
}

export interface ExposeInstruction extends Common {
  kind: 'expose';
  ports: string[];
}

export interface EnvInstruction extends Common {
  kind: 'env';
  env: KeyValue[];
}

/** A COPY or ADD source: a path/URL in the context (or stage), or an inline heredoc file. */
export type CopySource = { path: string } | { heredoc: Heredoc };

export interface AddInstruction extends Common {
  kind: 'add';
  sources: CopySource[];
  dest: string;
  chown?: string;
  chmod?: string;
  checksum?: string;
  keepGitDir: boolean;
  link: boolean;
  exclude: string[];
  /** `--unpack`: undefined = default (local archives unpack, URLs do not). */
  unpack?: boolean;
}

export interface CopyInstruction extends Common {
  kind: 'copy';
  sources: CopySource[];
  dest: string;
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
}

export interface VolumeInstruction extends Common {
  kind: 'volume';
  volumes: string[];
}

export interface UserInstruction extends Common {
  kind: 'user';
  user: string;
}

export interface WorkdirInstruction extends Common {
  kind: 'workdir';
  path: string;
}

export interface ArgDeclaration {
  key: string;
  /** Undefined for `ARG name` with no default. */
  value?: string;
}

export interface ArgInstruction extends Common {
  kind: 'arg';
  args: ArgDeclaration[];
}

export interface OnbuildInstruction extends Common {
  kind: 'onbuild';
  /** The trigger as it is stored in the image config (`RUN echo hi`). */
  expression: string;
  trigger: Instruction;
}

export interface StopsignalInstruction extends Common {
  kind: 'stopsignal';
  signal: string;
}

export interface HealthcheckInstruction extends Common {
  kind: 'healthcheck';
  /** `['NONE']`, `['CMD', …]` (exec form) or `['CMD-SHELL', command]`, as in the image config. */
  test: string[];
  /** Durations in nanoseconds, as the image config stores them; undefined = not set. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | EnvInstruction
  | AddInstruction
  | CopyInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction;

export type InstructionKind = Instruction['kind'];

/** Instructions that may appear inside a stage (FROM starts one). */
export type StageInstruction = Exclude<Instruction, FromInstruction>;

export interface Stage {
  /** 0-based position among the stages. */
  index: number;
  /** Lower-cased `AS` name, if any. */
  name?: string;
  /** The FROM argument as written (may hold `$ARG`s, expanded with the global ARGs). */
  image: string;
  platform?: string;
  from: FromInstruction;
  instructions: StageInstruction[];
  /** Doc comment lines directly above FROM. */
  comments: string[];
}

export interface DockerfileWarning {
  short: string;
  detail: string[];
  url?: string;
  range: SourceRange;
}

export interface ParsedDockerfile {
  /** ARGs declared before the first FROM. */
  globalArgs: ArgInstruction[];
  stages: Stage[];
  escapeToken: string;
  syntax?: string;
  warnings: DockerfileWarning[];
}
