// The error of a process that ran in a container and did not succeed, shaped like execa's
// (lib/return/final-error.js, message.js): a one-line `shortMessage` saying why and what,
// a `message` adding the last lines of stderr, the exit code or signal as fields, the
// original error as `cause`, and a brand for cross-realm checks (isRunStepError).

import { constants as osConstants } from 'node:os';
import { BuilderError, type ErrorCode } from '../errors.js';

const BRAND = Symbol.for('strata.RunStepError');

export interface RunStepErrorFields {
  /** The container's exit code (a command killed by signal N exits 128+N through the runtime). */
  exitCode?: number;
  /** The signal that ended it, when known. */
  signal?: NodeJS.Signals;
  /** The command as a shell-quoted string, for messages. */
  command: string;
  /** The last lines of the container's stderr ('' when not captured). */
  stderrTail: string;
  /** What the runtime itself reported (runc's error log), when it failed before or around exec. */
  runtimeMessage?: string;
  /** Aborted through the AbortSignal (or a forwarded SIGINT/SIGTERM). */
  isCanceled?: boolean;
  /** Filled in by the build engine: which stage and step. */
  stage?: string;
  step?: string;
  cause?: unknown;
  code?: ErrorCode;
}

/** Quotes an argv for display the way a POSIX shell would read it back. */
export function quoteCommand(args: readonly string[]): string {
  return args
    .map((a) => (a !== '' && /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

function reason(fields: RunStepErrorFields): string {
  if (fields.isCanceled) return 'was canceled';
  if (fields.runtimeMessage !== undefined && fields.exitCode === undefined) return 'could not be started';
  if (fields.signal !== undefined) return `was killed with ${fields.signal}`;
  if (fields.exitCode !== undefined) return `failed with exit code ${fields.exitCode}`;
  return 'failed';
}

export class RunStepError extends BuilderError {
  readonly exitCode: number | undefined;
  readonly signal: NodeJS.Signals | undefined;
  readonly command: string;
  readonly stderrTail: string;
  readonly runtimeMessage: string | undefined;
  readonly isCanceled: boolean;
  readonly stage: string | undefined;
  readonly step: string | undefined;
  /** "Command failed with exit code 2: sh -c 'false'", without stderr. */
  readonly shortMessage: string;

  constructor(fields: RunStepErrorFields) {
    const shortMessage = `command ${reason(fields)}: ${fields.command}`;
    const details = [fields.stderrTail.trimEnd()];
    if (fields.runtimeMessage !== undefined && !fields.stderrTail.includes(fields.runtimeMessage)) {
      details.unshift(`runtime: ${fields.runtimeMessage}`);
    }
    const body = details.filter((d) => d !== '').join('\n');
    const code: ErrorCode = fields.code ?? (fields.isCanceled ? 'ECANCELED' : 'EINVAL');
    super(code, body === '' ? shortMessage : `${shortMessage}\n\n${body}`, { cause: fields.cause });
    this.exitCode = fields.exitCode;
    this.signal = fields.signal;
    this.command = fields.command;
    this.stderrTail = fields.stderrTail;
    this.runtimeMessage = fields.runtimeMessage;
    this.isCanceled = fields.isCanceled ?? false;
    this.stage = fields.stage;
    this.step = fields.step;
    this.shortMessage = shortMessage;
    Object.defineProperty(this, BRAND, { value: true, enumerable: false });
  }

  override get name(): string {
    return 'RunStepError';
  }

  /** The same error, knowing which build stage and step ran the command. */
  withStep(stage: string | undefined, step: string | undefined): RunStepError {
    const fields: RunStepErrorFields = {
      command: this.command,
      stderrTail: this.stderrTail,
      isCanceled: this.isCanceled,
      code: this.code,
      cause: this.cause,
    };
    if (this.exitCode !== undefined) fields.exitCode = this.exitCode;
    if (this.signal !== undefined) fields.signal = this.signal;
    if (this.runtimeMessage !== undefined) fields.runtimeMessage = this.runtimeMessage;
    if (stage !== undefined) fields.stage = stage;
    if (step !== undefined) fields.step = step;
    return new RunStepError(fields);
  }
}

/** True for a RunStepError, also one created by another copy of this module. */
export function isRunStepError(err: unknown): err is RunStepError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
}

/** The number of a signal on this system (0 when unknown). */
export function signalNumber(signal: NodeJS.Signals): number {
  return (osConstants.signals as Record<string, number>)[signal] ?? 0;
}

/** A process's exit code as a shell reports it: its own code, else 128 + the signal (SIGKILL if none). */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signalNumber(signal ?? 'SIGKILL') || 9);
}

/** A step canceled before its process started: nothing ran, nothing to report but the cause. */
export function notStartedError(command: string, cause: unknown): RunStepError {
  return new RunStepError({ command, stderrTail: '', isCanceled: true, cause });
}

/** The error of a step stopped through its AbortSignal (or a forwarded SIGINT/SIGTERM). */
export function canceledStepError(fields: {
  command: string;
  stderrTail: string;
  exitCode: number;
  signal: NodeJS.Signals | undefined;
  cause: unknown;
}): RunStepError {
  const { signal, ...rest } = fields;
  return new RunStepError({ ...rest, isCanceled: true, ...(signal ? { signal } : {}) });
}
