// docker's config.json: keys (Docker Hub's legacy URL), base64 auth, identity tokens,
// unknown fields kept, mode 0600 and atomic rewrites.

import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  configKeyOf,
  decodeAuthEntry,
  encodeAuth,
  findAuthEntry,
  helperFor,
  hostOfKey,
  readDockerConfig,
  writeDockerConfig,
} from '../../../src/auth/docker-config.js';
import { DockerConfigKeychain, removeLogin, saveLogin } from '../../../src/auth/keychain.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';

test('hosts and keys: Docker Hub under its legacy URL, others by host', () => {
  assert.equal(configKeyOf('docker.io'), 'https://index.docker.io/v1/');
  assert.equal(configKeyOf('index.docker.io'), 'https://index.docker.io/v1/');
  assert.equal(configKeyOf('registry-1.docker.io'), 'https://index.docker.io/v1/');
  assert.equal(configKeyOf('127.0.0.1:5000'), '127.0.0.1:5000');
  assert.equal(hostOfKey('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(hostOfKey('https://Registry.Example.com/v2/'), 'registry.example.com');
  assert.equal(hostOfKey('http://localhost:5000'), 'localhost:5000');
});

test('auth fields: base64 user:password, with ":" allowed in the password', () => {
  assert.equal(encodeAuth('alice', 'pa:ss'), Buffer.from('alice:pa:ss').toString('base64'));
  assert.deepEqual(decodeAuthEntry({ auth: encodeAuth('alice', 'pa:ss') }), {
    username: 'alice',
    password: 'pa:ss',
  });
  assert.deepEqual(decodeAuthEntry({ username: 'bob', password: 'x' }), { username: 'bob', password: 'x' });
  assert.equal(encodeAuth('', ''), '');
  assert.throws(() => decodeAuthEntry({ auth: Buffer.from('nocolon').toString('base64') }), /no ":"/);
});

test('lookups match keys with schemes and paths; credHelpers win over credsStore', () => {
  const config = {
    auths: { 'https://reg.example.com/v1/': { auth: encodeAuth('a', 'b') } },
    credsStore: 'desktop',
    credHelpers: { 'gcr.io': 'gcloud' },
  };
  assert.equal(findAuthEntry(config, 'reg.example.com')?.key, 'https://reg.example.com/v1/');
  assert.equal(findAuthEntry(config, 'other.example.com'), undefined);
  assert.equal(helperFor(config, 'gcr.io'), 'gcloud');
  assert.equal(helperFor(config, 'reg.example.com'), 'desktop');
  assert.equal(helperFor({}, 'reg.example.com'), undefined);
});

test('a missing file is an empty config; bad JSON is EINVAL without its content', async () => {
  const dir = await makeTempDir();
  try {
    assert.deepEqual(await readDockerConfig(join(dir.path, 'none.json')), {});
    const bad = join(dir.path, 'bad.json');
    await writeFile(bad, '{"auths": {"x": {"auth": "c2VjcmV0"}}');
    await assert.rejects(readDockerConfig(bad), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'EINVAL');
      assert.ok(!err.message.includes('c2VjcmV0'));
      return true;
    });
  } finally {
    await dir.cleanup();
  }
});

test('writes are 0600, tab-indented like docker, keep unknown fields and leave no temp file', async () => {
  const dir = await makeTempDir();
  try {
    const path = join(dir.path, 'sub', 'config.json');
    await writeDockerConfig(path, { auths: {}, psFormat: 'table {{.ID}}', experimental: 'enabled' });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir.path, 'sub'))).mode & 0o777, 0o700);
    await saveLogin({ configPath: path }, '127.0.0.1:5000', { username: 'alice', password: 's3cret' });
    const text = await readFile(path, 'utf8');
    assert.match(text, /^\{\n\t"auths": \{\n\t\t"127\.0\.0\.1:5000": \{\n\t\t\t"auth": "/);
    const parsed = JSON.parse(text);
    assert.equal(parsed.psFormat, 'table {{.ID}}');
    assert.equal(parsed.experimental, 'enabled');
    assert.deepEqual(await readdir(join(dir.path, 'sub')), ['config.json']);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  } finally {
    await dir.cleanup();
  }
});

test('login and logout round-trip through the file; Docker Hub uses its legacy key', async () => {
  const dir = await makeTempDir();
  try {
    const options = { configPath: join(dir.path, 'config.json') };
    const keychain = new DockerConfigKeychain(options);
    assert.equal(await keychain.resolve('docker.io'), undefined);
    const saved = await saveLogin(options, 'docker.io', { username: 'alice', password: 'pw' });
    assert.equal(saved.key, 'https://index.docker.io/v1/');
    assert.deepEqual(await keychain.resolve('docker.io'), { username: 'alice', password: 'pw' });
    assert.deepEqual(await keychain.resolve('index.docker.io'), { username: 'alice', password: 'pw' });
    // An identity token replaces the password, as docker stores it.
    await saveLogin(options, 'reg.example.com', { username: 'bob', identityToken: 'refresh-123' });
    const config = JSON.parse(await readFile(options.configPath, 'utf8'));
    assert.deepEqual(config.auths['reg.example.com'], {
      auth: Buffer.from('bob:').toString('base64'),
      identitytoken: 'refresh-123',
    });
    assert.deepEqual(await keychain.resolve('reg.example.com'), {
      username: 'bob',
      identityToken: 'refresh-123',
    });
    assert.deepEqual(await removeLogin(options, 'docker.io'), {
      key: 'https://index.docker.io/v1/',
      removed: true,
    });
    assert.equal(await keychain.resolve('docker.io'), undefined);
    assert.deepEqual(await removeLogin(options, 'docker.io'), {
      key: 'https://index.docker.io/v1/',
      removed: false,
    });
    assert.ok(await keychain.resolve('reg.example.com'));
  } finally {
    await dir.cleanup();
  }
});
