// The retry policy, in one place: every registry operation that may be repeated goes through
// withRetry(). A failure is retried when isTemporary() says so (429, 5xx, a reset or timed-out
// connection), at most `attempts` times in all, waiting an exponential backoff with jitter or
// what Retry-After asks (capped), and never past an abort.

import { BuilderError } from '../errors.js';
import { isTemporary, RegistryError } from './errors.js';

export interface RetryPolicy {
  /** Tries in all, the first included. Default 5. */
  attempts: number;
  /** First backoff; doubled each time. Default 250 ms. */
  baseDelayMs: number;
  /** Largest backoff. Default 8 s. */
  maxDelayMs: number;
  /** Largest wait honoured from Retry-After; a longer ask fails at once. Default 60 s. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 8000,
  maxRetryAfterMs: 60_000,
};

export function resolveRetryPolicy(partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY, ...partial };
  if (!Number.isSafeInteger(p.attempts) || p.attempts < 1 || p.attempts > 20)
    throw new BuilderError('EINVAL', `retry attempts must be 1 to 20, not ${p.attempts}`);
  for (const k of ['baseDelayMs', 'maxDelayMs', 'maxRetryAfterMs'] as const)
    if (!(Number.isFinite(p[k]) && p[k] >= 0)) throw new BuilderError('EINVAL', `invalid retry ${k}`);
  return p;
}

/** How long to wait before try number `attempt + 1` (attempt counts from 1). */
export function retryDelay(policy: RetryPolicy, attempt: number, err: unknown, random = Math.random): number {
  const asked = err instanceof RegistryError ? err.retryAfterMs : undefined;
  if (asked !== undefined) return Math.min(asked, policy.maxRetryAfterMs);
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // "Equal jitter": half fixed, half random, so concurrent clients spread out.
  return Math.round(exp / 2 + (random() * exp) / 2);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryNotice {
  /** The try that failed (1-based). */
  attempt: number;
  error: unknown;
  delayMs: number;
}

export interface WithRetryOptions {
  signal?: AbortSignal;
  /** Told before each wait (progress: "Retrying in 2s"; logs). */
  onRetry?: (notice: RetryNotice) => void;
}

/** Runs `fn` until it succeeds, fails for good, or the policy's tries are spent. */
export async function withRetry<T>(
  policy: RetryPolicy,
  fn: (attempt: number) => Promise<T>,
  options: WithRetryOptions = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      if (!isTemporary(err) || attempt >= policy.attempts) throw err;
      const asked = err instanceof RegistryError ? err.retryAfterMs : undefined;
      if (asked !== undefined && asked > policy.maxRetryAfterMs) throw err;
      const delayMs = retryDelay(policy, attempt, err);
      options.onRetry?.({ attempt, error: err, delayMs });
      await sleep(delayMs, options.signal);
    }
  }
}
