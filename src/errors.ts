// One error class with a stable code, after containerd's errdefs: callers branch on `code`,
// never on message text. Subclasses add structured fields where a caller needs them.

export type ErrorCode =
  | 'ENOTFOUND' // a name, blob, file or stage that does not exist
  | 'EEXIST' // already there (callers of content commit treat it as success)
  | 'EINVAL' // bad input from the user: Dockerfile, flag, reference, archive
  | 'EPRECONDITION' // the world is not in the state the operation needs (no runtime, not root)
  | 'EUNAVAILABLE' // retryable: network, registry 5xx/429, a lock held too long
  | 'EUNAUTHORIZED' // credentials missing or refused
  | 'EDIGEST' // content did not match its digest or size
  | 'ECANCELED' // aborted by a signal
  | 'EINTERNAL'; // a bug: an invariant did not hold

export class BuilderError extends Error {
  readonly code: ErrorCode;
  /** A short suggestion of what to do, printed by the CLI after the message. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }

  override get name(): string {
    return 'BuilderError';
  }
}

/** A 1-based line and 0-based column, as BuildKit reports positions. */
export interface Position {
  line: number;
  character: number;
}

export interface SourceRange {
  start: Position;
  end: Position;
}

/** An error located in a Dockerfile (or a .dockerignore): the CLI prints file:line, the line and a caret. */
export class DockerfileError extends BuilderError {
  readonly file: string | undefined;
  readonly ranges: SourceRange[];
  /** The source text, when known, so the CLI can quote the offending line. */
  readonly source: string | undefined;

  constructor(
    message: string,
    options: { ranges?: SourceRange[]; file?: string; source?: string; hint?: string; cause?: unknown } = {},
  ) {
    super('EINVAL', message, options);
    this.file = options.file;
    this.ranges = options.ranges ?? [];
    this.source = options.source;
  }

  override get name(): string {
    return 'DockerfileError';
  }

  /** The same error, now knowing which file it came from. */
  withFile(file: string, source?: string): DockerfileError {
    return new DockerfileError(this.message, {
      ranges: this.ranges,
      file,
      source: source ?? this.source,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
      cause: this.cause,
    });
  }
}

export class DigestMismatchError extends BuilderError {
  readonly expected: string;
  readonly actual: string;

  constructor(expected: string, actual: string, what = 'content') {
    super('EDIGEST', `${what} has digest ${actual}, expected ${expected}`);
    this.expected = expected;
    this.actual = actual;
  }

  override get name(): string {
    return 'DigestMismatchError';
  }
}

export function isBuilderError(err: unknown): err is BuilderError {
  return err instanceof BuilderError;
}

/** For exhaustive switches over discriminated unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new BuilderError('EINTERNAL', `unexpected ${what}: ${JSON.stringify(value)}`);
}
