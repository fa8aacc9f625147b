// The docker-credential-* protocol with real helper programs (small shell scripts on a PATH made
// for the test) and with an in-process runner: get/store/erase, "not found", the Docker Hub
// key, `<token>` identity tokens, and secrets kept out of errors.

import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CredentialHelper, type HelperRunner, spawnHelper } from '../../../src/auth/credential-helper.js';
import { DockerConfigKeychain, removeLogin, saveLogin } from '../../../src/auth/keychain.js';
import { makeTempDir } from '../../helpers/tmp-dir.js';

/** A helper that keeps credentials in files under `store/`, as a real one would in a keychain. */
const HELPER = `#!/bin/sh
set -e
dir="$(dirname "$0")/store"
mkdir -p "$dir"
input="$(cat)"
case "$1" in
  store)
    url=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p')
    key=$(printf '%s' "$url" | tr -c 'a-zA-Z0-9' '_')
    printf '%s' "$input" > "$dir/$key"
    printf '%s\\n' "$url" >> "$dir/log"
    ;;
  get)
    key=$(printf '%s' "$input" | tr -c 'a-zA-Z0-9' '_')
    if [ -f "$dir/$key" ]; then cat "$dir/$key"; else echo "credentials not found in native keychain"; exit 1; fi
    ;;
  erase)
    key=$(printf '%s' "$input" | tr -c 'a-zA-Z0-9' '_')
    if [ -f "$dir/$key" ]; then rm "$dir/$key"; else echo "credentials not found in native keychain"; exit 1; fi
    ;;
  *) echo "unknown action" >&2; exit 2 ;;
esac
`;

async function withHelper(fn: (env: NodeJS.ProcessEnv, bin: string, configPath: string) => Promise<void>) {
  const dir = await makeTempDir();
  try {
    const bin = join(dir.path, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'docker-credential-testing'), HELPER);
    await chmod(join(bin, 'docker-credential-testing'), 0o755);
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
    await fn(env, bin, join(dir.path, 'config.json'));
  } finally {
    await dir.cleanup();
  }
}

test('credsStore: login stores in the helper (an empty auths entry in the file), lookups and logout use it', async () => {
  await withHelper(async (env, bin, configPath) => {
    await writeFile(configPath, JSON.stringify({ credsStore: 'testing' }));
    const options = { configPath, runHelper: spawnHelper({ env }) };
    const saved = await saveLogin(options, 'docker.io', { username: 'alice', password: 'hunter2' });
    assert.deepEqual(saved, { key: 'https://index.docker.io/v1/', helper: 'testing' });
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    assert.deepEqual(config.auths, { 'https://index.docker.io/v1/': {} });
    assert.equal(config.credsStore, 'testing');
    assert.ok(!JSON.stringify(config).includes('hunter2'));
    // The helper was asked under Docker Hub's legacy key.
    assert.equal(await readFile(join(bin, 'store', 'log'), 'utf8'), 'https://index.docker.io/v1/\n');
    const keychain = new DockerConfigKeychain(options);
    assert.deepEqual(await keychain.resolve('docker.io'), { username: 'alice', password: 'hunter2' });
    assert.equal(await keychain.resolve('other.example.com'), undefined);
    assert.deepEqual(await removeLogin(options, 'docker.io'), {
      key: 'https://index.docker.io/v1/',
      removed: true,
    });
    assert.equal(await keychain.resolve('docker.io'), undefined);
  });
});

test('credHelpers pick a helper per registry; identity tokens travel as Username <token>', async () => {
  await withHelper(async (env, _bin, configPath) => {
    await writeFile(configPath, JSON.stringify({ credHelpers: { 'reg.example.com': 'testing' } }));
    const options = { configPath, runHelper: spawnHelper({ env }) };
    await saveLogin(options, 'reg.example.com', { username: 'bob', identityToken: 'refresh-xyz' });
    const keychain = new DockerConfigKeychain(options);
    assert.deepEqual(await keychain.resolve('reg.example.com'), { identityToken: 'refresh-xyz' });
    // Other registries still use the file.
    await saveLogin(options, 'plain.example.com', { username: 'carol', password: 'pw' });
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    assert.equal(config.auths['plain.example.com'].auth, Buffer.from('carol:pw').toString('base64'));
  });
});

test('a missing helper program is a clear EPRECONDITION', async () => {
  const helper = new CredentialHelper(
    'does-not-exist-anywhere',
    spawnHelper({ env: { PATH: '/nonexistent' } }),
  );
  await assert.rejects(helper.get('https://index.docker.io/v1/'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'EPRECONDITION');
    assert.match(err.message, /docker-credential-does-not-exist-anywhere not found on PATH/);
    return true;
  });
});

test('a failing helper never puts the secret it was given into the error', async () => {
  const echoing: HelperRunner = async (_program, _action, input) => {
    const { HelperExitError } = await import('../../../src/auth/credential-helper.js');
    throw new HelperExitError(
      'docker-credential-bad',
      'store',
      `exit status 1: cannot store ${input}`,
      input,
    );
  };
  const helper = new CredentialHelper('bad', echoing);
  await assert.rejects(
    helper.store('reg.example.com', { username: 'u', secret: 'top-secret-value' }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'EUNAUTHORIZED');
      assert.ok(!err.message.includes('top-secret-value'), err.message);
      return true;
    },
  );
});

test('helper names are checked (no path tricks)', () => {
  assert.throws(() => new CredentialHelper('../evil', spawnHelper()), /invalid credential helper name/);
});
