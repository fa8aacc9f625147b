// The https agent of a transport is made at its first HTTPS exchange: its secure context reads
// the NODE_EXTRA_CA_CERTS file the CLI deferred (src/registry/extra-ca.ts), which a plain-HTTP
// registry never needs. A file of its own: the deferred file and the context are per process.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { MOVED_EXTRA_CA, takeMovedExtraCa } from '../../../src/registry/extra-ca.js';
import { httpExchange, makeAgents } from '../../../src/registry/http.js';

test('plain HTTP never reads the deferred CA file; the first HTTPS agent does', async () => {
  takeMovedExtraCa({ [MOVED_EXTRA_CA]: '/nonexistent/strata-test-ca.pem' });
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agents = makeAgents({ verifyTls: true });
  try {
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/`);
    const response = await httpExchange({ method: 'GET', url, headers: {}, agents, timeoutMs: 5000 });
    assert.equal(response.status, 200);
    response.body.resume();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings, [], 'the CA file was not read for plain HTTP');
    assert.ok(agents.https, 'made on first use');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /Ignoring extra certs from `\/nonexistent\/strata-test-ca\.pem`/);
  } finally {
    agents.destroy();
    process.off('warning', onWarning);
    await new Promise((resolve) => server.close(resolve));
  }
});
