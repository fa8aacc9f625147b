// Faults injected by a proxy between us and the real registry: each is survived (retries with
// backoff, Retry-After honoured, an upload session started again) or reported clearly, and the
// store never holds anything half-written (checkStore is clean, no ingest is left, no name or
// record points at a missing blob).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pullImage } from '../../src/registry/pull.js';
import { pushImage } from '../../src/registry/push.js';
import { Registries } from '../../src/registry/registries.js';
import { checkStore } from '../../src/store/check.js';
import type { StoredImage } from '../../src/store/image-store.js';
import type { Store } from '../../src/store/store.js';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.js';
import { addLayer, configFor, type TempStore, tmpStore } from '../helpers/image-fixtures.js';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { skipIf } from './prereqs.js';

const missing = registryMissing();
const CHUNK = 64 * 1024;

/** An image with a small layer and one big enough to go up in several PATCH chunks. */
async function makeImage(store: Store): Promise<StoredImage> {
  const small = await addLayer(store, [
    { path: 'hello.txt', body: `hello ${randomBytes(8).toString('hex')}\n` },
  ]);
  const big = await addLayer(store, [{ path: 'big.bin', body: randomBytes(300 * 1024) }]);
  const layers = [small, big];
  return store.images.put(
    configFor(layers),
    layers.map((l) => l.descriptor),
  );
}

async function assertClean(target: TempStore, name: string): Promise<void> {
  const check = await checkStore(target.store);
  assert.deepEqual(check.problems, []);
  assert.equal(await target.store.meta.names.get(name), undefined, 'no name was recorded');
  assert.deepEqual(await target.store.images.records.list(), [], 'no image was recorded');
  const ingest = await readdir(join(target.root, 'content', 'ingest')).catch(() => []);
  assert.deepEqual(ingest, [], 'no ingest is left behind');
}

describe('registry faults through a proxy', { concurrency: false }, () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let source: TempStore;
  const stores: TempStore[] = [];
  let pulled: { name: string; image: StoredImage };
  const registries = () =>
    new Registries({
      retry: { baseDelayMs: 10, maxDelayMs: 50, maxRetryAfterMs: 5000 },
      chunkSize: CHUNK,
      monolithicMax: 100 * 1024,
    });
  const fresh = async () => {
    const s = await tmpStore('strata-fault-');
    stores.push(s);
    return s;
  };

  before(async () => {
    if (missing) return;
    reg = await startRegistry('none');
    proxy = await startFaultProxy(reg.port);
    source = await tmpStore('strata-fault-src-');
    const image = await makeImage(source.store);
    const name = `${proxy.host}/faults/pull:1`;
    await source.store.images.tag(image, name);
    const r = registries();
    await pushImage(source.store, name, r);
    r.close();
    pulled = { name, image };
  });
  after(async () => {
    for (const s of stores) await s.cleanup();
    await source?.cleanup();
    await proxy?.close();
    await reg?.stop();
  });

  test('500 (manifest) and 503 (blob), then success: the pull retries and completes', async (t) => {
    if (skipIf(t, missing)) return;
    proxy.rules.length = 0;
    proxy.injected.length = 0;
    proxy.rules.push(
      { method: 'GET', path: /\/manifests\/1$/, fault: { kind: 'status', status: 500 }, times: 1 },
      { method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'status', status: 503 }, times: 1 },
    );
    const target = await fresh();
    const r = registries();
    try {
      const result = await pullImage(target.store, pulled.name, r);
      assert.equal(result.image.id, pulled.image.id);
      assert.equal(proxy.injected.length, 2);
      assert.ok(r.stats().retries >= 2, `retries: ${r.stats().retries}`);
      assert.deepEqual((await checkStore(target.store)).problems, []);
    } finally {
      r.close();
    }
  });

  test('429 with Retry-After: the push waits as asked, then succeeds', async (t) => {
    if (skipIf(t, missing)) return;
    proxy.rules.length = 0;
    proxy.injected.length = 0;
    proxy.rules.push({
      method: 'POST',
      path: /\/blobs\/uploads\/$/,
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
      times: 1,
    });
    const image = await makeImage(source.store);
    const name = `${proxy.host}/faults/ratelimited:1`;
    await source.store.images.tag(image, name);
    const r = registries();
    try {
      const started = Date.now();
      const result = await pushImage(source.store, name, r);
      assert.ok(Date.now() - started >= 900, `waited only ${Date.now() - started} ms`);
      assert.equal(proxy.injected.length, 1);
      assert.equal(result.digest, image.manifestDescriptor.digest);
    } finally {
      r.close();
    }
  });

  test('429 asking to wait longer than allowed is reported at once, clearly', async (t) => {
    if (skipIf(t, missing)) return;
    proxy.rules.length = 0;
    proxy.rules.push({
      method: 'GET',
      path: /\/manifests\//,
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '3600' } },
      times: 1,
    });
    const target = await fresh();
    const r = registries();
    try {
      const started = Date.now();
      await assert.rejects(pullImage(target.store, pulled.name, r), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EUNAVAILABLE');
        assert.match(String((err.cause as Error)?.message), /429 Too Many Requests: TOOMANYREQUESTS/);
        return true;
      });
      assert.ok(Date.now() - started < 3000);
      await assertClean(target, pulled.name);
    } finally {
      r.close();
    }
  });

  test('a connection reset in the middle of a chunked upload: the session starts again and succeeds', async (t) => {
    if (skipIf(t, missing)) return;
    proxy.rules.length = 0;
    proxy.injected.length = 0;
    proxy.rules.push(
      { method: 'PATCH', path: /\/blobs\/uploads\//, fault: { kind: 'reset-upload' }, times: 1, skip: 1 },
      { method: 'PUT', path: /\/blobs\/uploads\/.*digest=/, fault: { kind: 'reset-upload' }, times: 1 },
    );
    const image = await makeImage(source.store);
    const name = `${proxy.host}/faults/reset:1`;
    await source.store.images.tag(image, name);
    const r = registries();
    try {
      const result = await pushImage(source.store, name, r);
      assert.equal(proxy.injected.length, 2, proxy.injected.join('\n'));
      assert.ok(r.stats().retries >= 2);
      assert.equal(result.digest, image.manifestDescriptor.digest);
      // What the registry holds is exactly what we had: pull it back and compare.
      proxy.rules.length = 0;
      const target = await fresh();
      const back = await pullImage(target.store, name, r);
      assert.equal(back.image.id, image.id);
      assert.deepEqual((await checkStore(target.store)).problems, []);
    } finally {
      r.close();
    }
  });

  test('a blob cut short once is downloaded again; nothing partial is kept', async (t) => {
    if (skipIf(t, missing)) return;
    proxy.rules.length = 0;
    proxy.injected.length = 0;
    const big = pulled.image.manifest.layers[1]!;
    proxy.rules.push({
      method: 'GET',
      path: new RegExp(`/blobs/${big.digest}$`),
      fault: { kind: 'truncate', keep: 100_000 },
      times: 1,
    });
    const target = await fresh();
    const r = registries();
    try {
      const result = await pullImage(target.store, pulled.name, r);
      assert.equal(proxy.injected.length, 1);
      assert.equal(result.image.id, pulled.image.id);
      assert.deepEqual((await checkStore(target.store)).problems, []);
    } finally {
      r.close();
    }
  });

  test('a blob always cut short fails clearly after the retries, leaving the store clean', async (t) => {
    if (skipIf(t, missing)) return;
    proxy.rules.length = 0;
    const big = pulled.image.manifest.layers[1]!;
    proxy.rules.push({
      method: 'GET',
      path: new RegExp(`/blobs/${big.digest}$`),
      fault: { kind: 'truncate', keep: 100_000 },
      times: 100,
    });
    const target = await fresh();
    const r = registries();
    try {
      await assert.rejects(pullImage(target.store, pulled.name, r), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EUNAVAILABLE');
        assert.match(err.message, /^pulling 127\.0\.0\.1:\d+\/faults\/pull:1/);
        return true;
      });
      assert.equal(await target.store.content.has(big.digest), false);
      await assertClean(target, pulled.name);
    } finally {
      r.close();
    }
  });

  test('a blob with a wrong digest is refused (EDIGEST) and never stored', async (t) => {
    if (skipIf(t, missing)) return;
    proxy.rules.length = 0;
    const layer = pulled.image.manifest.layers[0]!;
    proxy.rules.push({
      method: 'GET',
      path: new RegExp(`/blobs/${layer.digest}$`),
      fault: { kind: 'corrupt' },
      times: 100,
    });
    const target = await fresh();
    const r = registries();
    try {
      await assert.rejects(pullImage(target.store, pulled.name, r), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EDIGEST');
        assert.match(err.message, /^pulling /);
        assert.match(String((err.cause as Error)?.message), new RegExp(layer.digest));
        return true;
      });
      assert.equal(await target.store.content.has(layer.digest), false);
      await assertClean(target, pulled.name);
    } finally {
      r.close();
    }
  });

  test('a manifest whose bytes do not match Docker-Content-Digest is refused', async (t) => {
    if (skipIf(t, missing)) return;
    proxy.rules.length = 0;
    proxy.rules.push({ method: 'GET', path: /\/manifests\/1$/, fault: { kind: 'corrupt' }, times: 100 });
    const target = await fresh();
    const r = registries();
    try {
      await assert.rejects(pullImage(target.store, pulled.name, r), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EDIGEST');
        return true;
      });
      await assertClean(target, pulled.name);
    } finally {
      r.close();
    }
  });
});
