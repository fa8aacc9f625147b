// The seed's last step through the built CLI, against the real registry with htpasswd auth:
// `strata login`, build `user/webapp-rockets:1.0`, `strata push`, `strata pull` into an empty
// store, a build whose FROM names a registry image not in the store (pulled on the way),
// `build --pull --push`, and `strata logout`. Output is docker's; no credential ever appears in it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoRoot } from '../helpers/conformance.js';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry-server.js';
import { skipIf } from './prereqs.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const missing = registryMissing() ?? (existsSync(CLI) ? undefined : `${CLI} is missing (npm run build)`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function strata(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

describe('strata login, push, pull, logout and build against a registry', { concurrency: false }, () => {
  let reg: TestRegistry;
  let root: string;
  let envA: NodeJS.ProcessEnv;
  let envB: NodeJS.ProcessEnv;
  let envC: NodeJS.ProcessEnv;
  let name: string;
  let pushedDigest: string;
  const secretFree = (r: Run) => {
    const all = r.stdout + r.stderr;
    assert.ok(!all.includes(reg.user.password), 'the password was printed');
    assert.ok(!all.includes(Buffer.from(`${reg.user.username}:${reg.user.password}`).toString('base64')));
  };

  before(async () => {
    if (missing) return;
    reg = await startRegistry('htpasswd');
    root = await mkdtemp(join(tmpdir(), 'strata-reg-cli-'));
    const base: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(root, 'docker') };
    delete base.STRATA_INSECURE_REGISTRIES;
    envA = { ...base, STRATA_ROOT: join(root, 'a') };
    envB = { ...base, STRATA_ROOT: join(root, 'b') };
    envC = { ...base, STRATA_ROOT: join(root, 'c') };
    name = `${reg.host}/user/webapp-rockets:1.0`;
    const ctx = join(root, 'ctx');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'app.py'), 'print("webapp-rockets")\n');
    await writeFile(
      join(ctx, 'Dockerfile'),
      'FROM scratch\nCOPY app.py /opt/app.py\nENTRYPOINT ["python3", "/opt/app.py"]\n',
    );
  });
  after(async () => {
    await reg?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('login with a wrong password fails; with the right one it is stored as docker stores it', async (t) => {
    if (skipIf(t, missing)) return;
    const wrong = await strata(
      ['login', '-u', reg.user.username, '--password-stdin', reg.host],
      envA,
      'wrong-password-5678\n',
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /login to 127\.0\.0\.1:\d+ failed: unauthorized/);
    assert.ok(!wrong.stderr.includes('wrong-password-5678'));
    const ok = await strata(
      ['login', '-u', reg.user.username, '--password-stdin', reg.host],
      envA,
      `${reg.user.password}\n`,
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'Login Succeeded\n');
    secretFree(ok);
    const configPath = join(root, 'docker', 'config.json');
    assert.equal((await stat(configPath)).mode & 0o777, 0o600);
    const config = JSON.parse(await readFile(configPath, 'utf8'));
    assert.deepEqual(config.auths[reg.host], {
      auth: Buffer.from(`${reg.user.username}:${reg.user.password}`).toString('base64'),
    });
  });

  test("build and push user/webapp-rockets:1.0; the last line is docker's; a second push skips every layer", async (t) => {
    if (skipIf(t, missing)) return;
    const built = await strata(['build', '-q', '-t', name, join(root, 'ctx')], envA);
    assert.equal(built.code, 0, built.stderr);
    const pushed = await strata(['push', name], envA);
    assert.equal(pushed.code, 0, pushed.stderr);
    secretFree(pushed);
    const lines = pushed.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `The push refers to repository [${reg.host}/user/webapp-rockets]`);
    assert.ok(
      lines.some((l) => /^[a-f0-9]{12}: Pushed$/.test(l)),
      pushed.stdout,
    );
    const m = /^1\.0: digest: (sha256:[a-f0-9]{64}) size: \d+$/.exec(lines[lines.length - 1] ?? '');
    assert.ok(m, pushed.stdout);
    pushedDigest = m[1] as string;
    const again = await strata(['push', name], envA);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /: Layer already exists\n/);
    assert.doesNotMatch(again.stdout, /: Pushed\n/);
    assert.ok(
      again.stdout.endsWith(`1.0: digest: ${pushedDigest} size: ${/size: (\d+)/.exec(pushed.stdout)?.[1]}\n`),
    );
  });

  test("pull into an empty store: docker's lines, RepoDigests, and a clean store", async (t) => {
    if (skipIf(t, missing)) return;
    const pulled = await strata(['pull', name], envB);
    assert.equal(pulled.code, 0, pulled.stderr);
    const lines = pulled.stdout.trimEnd().split('\n');
    assert.equal(lines[0], '1.0: Pulling from user/webapp-rockets');
    assert.ok(
      lines.some((l) => /^[a-f0-9]{12}: Pull complete$/.test(l)),
      pulled.stdout,
    );
    assert.deepEqual(lines.slice(-3), [
      `Digest: ${pushedDigest}`,
      `Status: Downloaded newer image for ${name}`,
      name,
    ]);
    const inspect = await strata(['inspect', '-f', '{{json .RepoDigests}}', name], envB);
    assert.equal(inspect.stdout.trim(), JSON.stringify([`${reg.host}/user/webapp-rockets@${pushedDigest}`]));
    const check = await strata(['system', 'check'], envB);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const quiet = await strata(['pull', '-q', name], envB);
    assert.equal(quiet.stdout, `${name}\n`);
    const up = await strata(['pull', name], envB);
    assert.match(up.stdout, new RegExp(`Status: Image is up to date for ${name.replace(/[.]/g, '\\.')}\n`));
  });

  test('a build whose FROM names a registry image not in the store pulls it; --pull --push work', async (t) => {
    if (skipIf(t, missing)) return;
    const ctx = join(root, 'ctx2');
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, 'extra.txt'), 'more\n');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${name}\nCOPY extra.txt /opt/extra.txt\n`);
    const built = await strata(['build', '-q', '-t', 'derived:1', ctx], envC);
    assert.equal(built.code, 0, built.stderr);
    const images = await strata(['images', '--format', '{{.Repository}}:{{.Tag}}'], envC);
    assert.match(images.stdout, new RegExp(`${reg.host.replace(/[.]/g, '\\.')}/user/webapp-rockets:1\\.0`));
    const derived = `${reg.host}/user/derived:1`;
    const pushed = await strata(
      ['build', '--pull', '--push', '--progress', 'plain', '-t', derived, ctx],
      envC,
    );
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stderr, /\n1: digest: sha256:[a-f0-9]{64} size: \d+\n/);
    // The base's layer was mounted from user/webapp-rockets (we pulled it from there).
    assert.match(pushed.stderr, /: Mounted from user\/webapp-rockets\n/);
    const back = await strata(['pull', derived], envB);
    assert.equal(back.code, 0, back.stderr);
  });

  test('push -a sends every local tag of the repository; pull -a fetches every remote tag', async (t) => {
    if (skipIf(t, missing)) return;
    const repo = `${reg.host}/user/webapp-rockets`;
    const tagged = await strata(['tag', name, `${repo}:latest`], envA);
    assert.equal(tagged.code, 0, tagged.stderr);
    const pushed = await strata(['push', '-a', repo], envA);
    assert.equal(pushed.code, 0, pushed.stderr);
    const finals = pushed.stdout.split('\n').filter((l) => l.includes(': digest: '));
    assert.deepEqual(
      finals.map((l) => l.replace(/ size: \d+$/, '')),
      [`1.0: digest: ${pushedDigest}`, `latest: digest: ${pushedDigest}`],
    );
    assert.doesNotMatch(pushed.stdout, /: Pushed\n/);
    const empty = { ...envB, STRATA_ROOT: join(root, 'd') };
    const pulled = await strata(['pull', '-a', repo], empty);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, /(^|\n)1\.0: Pulling from user\/webapp-rockets\n/);
    assert.match(pulled.stdout, /(^|\n)latest: Pulling from user\/webapp-rockets\n/);
    assert.ok(pulled.stdout.endsWith(`Status: Downloaded newer image for ${repo}\n${repo}\n`), pulled.stdout);
    const images = await strata(['images', '--format', '{{.Tag}}', repo], empty);
    assert.deepEqual(images.stdout.trim().split('\n').sort(), ['1.0', 'latest']);
  });

  test('a missing tag is reported as docker does', async (t) => {
    if (skipIf(t, missing)) return;
    const r = await strata(['pull', `${reg.host}/user/webapp-rockets:nope`], envB);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /manifest for 127\.0\.0\.1:\d+\/user\/webapp-rockets:nope not found/);
  });

  test('logout removes the login; a push then explains that a login is needed', async (t) => {
    if (skipIf(t, missing)) return;
    const out = await strata(['logout', reg.host], envA);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `Removing login credentials for ${reg.host}\n`);
    const config = JSON.parse(await readFile(join(root, 'docker', 'config.json'), 'utf8'));
    assert.equal(config.auths[reg.host], undefined);
    const again = await strata(['logout', reg.host], envA);
    assert.equal(again.stdout, `Not logged in to ${reg.host}\n`);
    const denied = await strata(['push', name], envA);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /error: pushing 127\.0\.0\.1:\d+\/user\/webapp-rockets:1\.0/);
    assert.match(denied.stderr, /hint: Log in first: strata login 127\.0\.0\.1:\d+/);
  });
});
