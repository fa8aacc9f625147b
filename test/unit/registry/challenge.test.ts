// WWW-Authenticate parsing: several challenges, quoted strings with escapes and commas.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { challengeScopes, parseChallenges } from '../../../src/registry/challenge.js';

test('a Bearer challenge with realm, service and scope', () => {
  const [c] = parseChallenges(
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
  );
  assert.deepEqual(c, {
    scheme: 'bearer',
    params: {
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/alpine:pull',
    },
  });
});

test('Basic, case-insensitive names, spaces and unquoted values', () => {
  assert.deepEqual(parseChallenges('basic Realm="Registry Realm"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
  ]);
  assert.deepEqual(parseChallenges('Bearer realm = https://a/token , service=svc'), [
    { scheme: 'bearer', params: { realm: 'https://a/token', service: 'svc' } },
  ]);
});

test('several challenges in one header, or in several headers', () => {
  const both = parseChallenges('Basic realm="x", Bearer realm="https://t/token",service="s"');
  assert.deepEqual(
    both.map((c) => c.scheme),
    ['basic', 'bearer'],
  );
  assert.equal(both[1]?.params.service, 's');
  const split = parseChallenges(['Basic realm="x"', 'Bearer realm="y"']);
  assert.deepEqual(
    split.map((c) => [c.scheme, c.params.realm]),
    [
      ['basic', 'x'],
      ['bearer', 'y'],
    ],
  );
});

test('quoted strings keep commas and escaped quotes; insufficient_scope lists several scopes', () => {
  const [c] = parseChallenges(
    'Bearer realm="https://t/token",error="insufficient_scope",scope="repository:a:pull,push repository:b:pull",note="say \\"hi\\", twice"',
  );
  assert.equal(c?.params.error, 'insufficient_scope');
  assert.equal(c?.params.note, 'say "hi", twice');
  assert.deepEqual(challengeScopes(c!), ['repository:a:pull,push', 'repository:b:pull']);
});

test('empty and odd input does not throw', () => {
  assert.deepEqual(parseChallenges(undefined), []);
  assert.deepEqual(parseChallenges(''), []);
  assert.deepEqual(parseChallenges(',,,'), []);
  assert.equal(parseChallenges('Bearer realm="unterminated')[0]?.params.realm, 'unterminated');
});
