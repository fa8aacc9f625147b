// Error conversions shared by the content store implementations.

import { BuilderError, isBuilderError } from '../../errors.js';

/** Turns an abort from a pipeline/signal into ECANCELED; keeps BuilderErrors; wraps the rest. */
export function storeError(err: unknown, what: string): unknown {
  if (isBuilderError(err)) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') {
    return new BuilderError('ECANCELED', `${what}: canceled`, { cause: err });
  }
  return err;
}

export function notFound(what: string, cause?: unknown): BuilderError {
  return new BuilderError('ENOTFOUND', `${what} not found`, cause === undefined ? {} : { cause });
}

export function checkExpectedSize(size: number | undefined): void {
  if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0)) {
    throw new BuilderError('EINVAL', `invalid expected size ${size}: must be a non-negative integer`);
  }
}

export function sizeMismatch(what: string, actual: number, expected: number): BuilderError {
  return new BuilderError('EDIGEST', `${what} is ${actual} bytes, expected ${expected}`);
}
