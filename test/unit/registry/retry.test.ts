// The retry policy: temporary failures are tried again with backoff (or as Retry-After asks),
// others fail at once, tries are bounded, an abort stops the waiting.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BuilderError } from '../../../src/errors.js';
import { RegistryError } from '../../../src/registry/errors.js';
import { DEFAULT_RETRY, resolveRetryPolicy, retryDelay, withRetry } from '../../../src/registry/retry.js';

const fast = resolveRetryPolicy({ attempts: 4, baseDelayMs: 1, maxDelayMs: 4, maxRetryAfterMs: 200 });
const e503 = () => new RegistryError({ status: 503, method: 'GET', url: 'u' });

test('temporary failures are retried until success', async () => {
  let calls = 0;
  const seen: number[] = [];
  const out = await withRetry(
    fast,
    async (attempt) => {
      calls++;
      if (attempt < 3) throw e503();
      return 'ok';
    },
    { onRetry: (n) => seen.push(n.attempt) },
  );
  assert.equal(out, 'ok');
  assert.equal(calls, 3);
  assert.deepEqual(seen, [1, 2]);
});

test('tries are bounded; the last error is thrown', async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(fast, async () => {
      calls++;
      throw e503();
    }),
    RegistryError,
  );
  assert.equal(calls, 4);
});

test('permanent failures are not retried', async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(fast, async () => {
      calls++;
      throw new RegistryError({ status: 404, method: 'GET', url: 'u' });
    }),
  );
  await assert.rejects(
    withRetry(fast, async () => {
      calls++;
      throw new BuilderError('EDIGEST', 'bad');
    }),
  );
  assert.equal(calls, 2);
});

test('Retry-After is honoured, and a longer ask than allowed fails at once', async () => {
  const asked = new RegistryError({ status: 429, method: 'GET', url: 'u', retryAfterMs: 120 });
  assert.equal(retryDelay(fast, 1, asked), 120);
  let calls = 0;
  const started = Date.now();
  await withRetry(fast, async () => {
    if (calls++ === 0) throw asked;
  });
  assert.ok(Date.now() - started >= 100);
  calls = 0;
  await assert.rejects(
    withRetry(fast, async () => {
      calls++;
      throw new RegistryError({ status: 429, method: 'GET', url: 'u', retryAfterMs: 10_000 });
    }),
  );
  assert.equal(calls, 1);
});

test('backoff doubles with jitter and is capped', () => {
  const p = resolveRetryPolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
  assert.equal(
    retryDelay(p, 1, e503(), () => 0),
    50,
  );
  assert.equal(
    retryDelay(p, 1, e503(), () => 1),
    100,
  );
  assert.equal(
    retryDelay(p, 3, e503(), () => 1),
    400,
  );
  assert.equal(
    retryDelay(p, 10, e503(), () => 1),
    1000,
  );
  assert.equal(DEFAULT_RETRY.attempts, 5);
  assert.throws(() => resolveRetryPolicy({ attempts: 0 }), /retry attempts/);
});

test('an abort ends the wait', async () => {
  const controller = new AbortController();
  const slow = resolveRetryPolicy({ baseDelayMs: 10_000, maxDelayMs: 10_000 });
  const started = Date.now();
  setTimeout(() => controller.abort(new Error('stop')), 20);
  await assert.rejects(
    withRetry(
      slow,
      async () => {
        throw e503();
      },
      { signal: controller.signal },
    ),
    /stop/,
  );
  assert.ok(Date.now() - started < 2000);
});
