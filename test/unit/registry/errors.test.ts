// Registry errors as data, Retry-After, what counts as temporary, redaction, and the messages a
// user reads for 401/403/404/DENIED (Docker Hub's "<login>/webapp-rockets" included).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BuilderError, DigestMismatchError } from '../../../src/errors.js';
import { parseReference } from '../../../src/reference/reference.js';
import {
  isTemporary,
  parseDiagnostics,
  parseRetryAfter,
  RegistryError,
  RegistryNetworkError,
} from '../../../src/registry/errors.js';
import { explainRegistryFailure } from '../../../src/registry/explain.js';
import { redactHeaders, redactUrl, scrub } from '../../../src/registry/redact.js';

const denied = (status: number, code = 'DENIED', message = 'requested access to the resource is denied') =>
  new RegistryError({
    status,
    method: 'POST',
    url: 'https://registry-1.docker.io/v2/library/webapp-rockets/blobs/uploads/',
    diagnostics: [{ code, message }],
  });

test('RegistryError: status, diagnostics and a code from them', () => {
  const e = new RegistryError({
    status: 404,
    method: 'GET',
    url: 'https://r/v2/a/manifests/1',
    diagnostics: parseDiagnostics(
      '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"1"}}]}',
    ),
  });
  assert.equal(e.code, 'ENOTFOUND');
  assert.equal(
    e.message,
    'GET https://r/v2/a/manifests/1: 404 Not Found: MANIFEST_UNKNOWN: manifest unknown',
  );
  assert.deepEqual(e.diagnostics[0]?.detail, { Tag: '1' });
  assert.ok(e.has('MANIFEST_UNKNOWN'));
  assert.equal(denied(401).code, 'EUNAUTHORIZED');
  assert.equal(denied(403).code, 'EUNAUTHORIZED');
  assert.equal(
    new RegistryError({
      status: 400,
      method: 'PUT',
      url: 'u',
      diagnostics: [{ code: 'DIGEST_INVALID', message: 'x' }],
    }).code,
    'EDIGEST',
  );
  assert.equal(new RegistryError({ status: 503, method: 'GET', url: 'u' }).code, 'EUNAVAILABLE');
  assert.deepEqual(parseDiagnostics('<html>oops</html>'), []);
  assert.deepEqual(parseDiagnostics('{"errors": "no"}'), []);
  // A non-JSON body: one short line of it, never HTML.
  assert.match(
    new RegistryError({ status: 502, method: 'GET', url: 'u', bodyText: 'upstream\n  down' }).message,
    /502 Bad Gateway: upstream down$/,
  );
  assert.match(
    new RegistryError({ status: 502, method: 'GET', url: 'u', bodyText: '<html>…</html>' }).message,
    /502 Bad Gateway$/,
  );
});

test('temporary: 429, 408 and 5xx (not 501/505), socket resets and timeouts; nothing else', () => {
  for (const s of [429, 408, 500, 502, 503, 504])
    assert.ok(isTemporary(new RegistryError({ status: s, method: 'GET', url: 'u' })), `${s}`);
  for (const s of [400, 401, 403, 404, 501, 505])
    assert.ok(!isTemporary(new RegistryError({ status: s, method: 'GET', url: 'u' })), `${s}`);
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  assert.ok(isTemporary(new RegistryNetworkError('GET', 'u', reset)));
  assert.ok(isTemporary(reset));
  assert.ok(isTemporary(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
  assert.ok(
    !isTemporary(
      new RegistryNetworkError('GET', 'u', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })),
    ),
  );
  assert.ok(!isTemporary(new DigestMismatchError('sha256:a', 'sha256:b')));
  assert.ok(!isTemporary(new BuilderError('EUNAVAILABLE', 'lock busy')));
});

test('Retry-After: seconds or an HTTP date', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  const now = Date.parse('2024-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Mon, 01 Jan 2024 00:00:05 GMT', now), 5000);
  assert.equal(parseRetryAfter('Sun, 31 Dec 2023 00:00:00 GMT', now), 0);
});

test('redaction: user info, unknown query values and credential headers', () => {
  assert.equal(
    redactUrl('https://user:pass@r.example.com/v2/a/blobs/uploads/x?_state=abc&digest=sha256%3A1'),
    'https://r.example.com/v2/a/blobs/uploads/x?_state=REDACTED&digest=sha256%3A1',
  );
  assert.equal(
    redactUrl('https://s3.example.com/blob?X-Amz-Signature=deadbeef&X-Amz-Credential=k'),
    'https://s3.example.com/blob?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED',
  );
  assert.equal(
    redactUrl('https://auth/token?scope=repository%3Aa%3Apull&service=s'),
    'https://auth/token?scope=repository%3Aa%3Apull&service=s',
  );
  assert.deepEqual(redactHeaders({ Authorization: 'Bearer x', 'content-type': 'a', cookie: 'c', n: 1 }), {
    Authorization: 'REDACTED',
    'content-type': 'a',
    cookie: 'REDACTED',
    n: '1',
  });
  assert.equal(
    scrub('the secret is hunter22 ok', ['hunter22', undefined, 'ab']),
    'the secret is REDACTED ok',
  );
});

test('pushing webapp-rockets to Docker Hub explains <login>/webapp-rockets and strata login', () => {
  const ref = parseReference('webapp-rockets');
  for (const status of [401, 403]) {
    const err = explainRegistryFailure(denied(status), { op: 'push', ref, hasCredential: true });
    assert.equal(err.code, 'EUNAUTHORIZED');
    assert.equal(
      err.message,
      'pushing webapp-rockets:latest: denied: requested access to the resource is denied',
    );
    assert.match(err.hint ?? '', /docker\.io\/library\/webapp-rockets/);
    assert.match(err.hint ?? '', /<login>\/webapp-rockets/);
    assert.match(err.hint ?? '', /strata login/);
    assert.ok(err.cause instanceof RegistryError);
  }
  const tagged = explainRegistryFailure(denied(401, 'UNAUTHORIZED', 'authentication required'), {
    op: 'push',
    ref: parseReference('webapp-rockets:1.0'),
    hasCredential: false,
  });
  assert.match(tagged.hint ?? '', /strata tag webapp-rockets:1\.0 <login>\/webapp-rockets:1\.0/);
});

test("other push and pull refusals, and 404s, read as docker's", () => {
  const user = parseReference('alice/app:1');
  const noLogin = explainRegistryFailure(denied(401, 'UNAUTHORIZED', 'authentication required'), {
    op: 'push',
    ref: user,
    hasCredential: false,
  });
  assert.equal(noLogin.message, 'pushing alice/app:1: unauthorized: authentication required');
  assert.match(noLogin.hint ?? '', /^Log in first: strata login/);
  const otherNs = explainRegistryFailure(denied(403), { op: 'push', ref: user, hasCredential: true });
  assert.match(otherNs.hint ?? '', /may push to the "alice" namespace/);
  const local = parseReference('127.0.0.1:5000/team/app:2');
  assert.match(
    explainRegistryFailure(denied(401), { op: 'push', ref: local, hasCredential: false }).hint ?? '',
    /strata login 127\.0\.0\.1:5000/,
  );
  const pull = explainRegistryFailure(denied(401, 'UNAUTHORIZED', 'authentication required'), {
    op: 'pull',
    ref: user,
    hasCredential: false,
  });
  assert.equal(
    pull.message,
    "pull access denied for alice/app, repository does not exist or may require 'strata login': unauthorized: authentication required",
  );
  const nf = explainRegistryFailure(
    new RegistryError({
      status: 404,
      method: 'GET',
      url: 'u',
      diagnostics: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }],
    }),
    { op: 'pull', ref: user, hasCredential: false },
  );
  assert.equal(nf.code, 'ENOTFOUND');
  assert.equal(nf.message, 'manifest for alice/app:1 not found: manifest_unknown: manifest unknown');
  const net = explainRegistryFailure(
    new RegistryNetworkError(
      'GET',
      'u',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    ),
    { op: 'pull', ref: local, hasCredential: false },
  );
  assert.equal(net.code, 'EUNAVAILABLE');
  assert.equal(net.message, 'pulling 127.0.0.1:5000/team/app:2: cannot reach 127.0.0.1:5000');
  assert.match(net.hint ?? '', /is the registry running/);
  // A certificate no root trusts: said so, with what to do.
  for (const code of [
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  ]) {
    const untrusted = new RegistryNetworkError('GET', 'u', Object.assign(new Error('self-signed'), { code }));
    assert.equal(untrusted.untrusted, true, code);
    const tls = explainRegistryFailure(untrusted, { op: 'pull', ref: local, hasCredential: false });
    assert.equal(
      tls.message,
      'pulling 127.0.0.1:5000/team/app:2: the TLS certificate of 127.0.0.1:5000 is not trusted',
    );
    assert.match(tls.hint ?? '', /NODE_EXTRA_CA_CERTS/);
    assert.match(tls.hint ?? '', /STRATA_INSECURE_REGISTRIES/);
  }
  assert.equal(
    new RegistryNetworkError('GET', 'u', Object.assign(new Error('reset'), { code: 'ECONNRESET' })).untrusted,
    false,
  );
  const digest = explainRegistryFailure(new DigestMismatchError('sha256:a', 'sha256:b', 'layer'), {
    op: 'pull',
    ref: user,
    hasCredential: false,
  });
  assert.equal(digest.code, 'EDIGEST');
  assert.equal(digest.message, 'pulling alice/app:1');
});
