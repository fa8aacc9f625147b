// NODE_EXTRA_CA_CERTS without Node parsing it at start: the `strata` front program hands it to
// the CLI as STRATA_MOVED_NODE_EXTRA_CA_CERTS, the CLI puts it back and adds those certificates
// to the TLS it opens itself (ADD downloads, registry exchanges). Checked against an HTTPS
// server of the test's own whose certificate a private CA signed: trusted with the variable set,
// refused without it, and a build memo still answers.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  deferredExtraCaFile,
  MOVED_EXTRA_CA,
  takeMovedExtraCa,
  withExtraCaMoved,
} from '../../src/registry/extra-ca.js';
import { RegistryTransport } from '../../src/registry/transport.js';
import { CLI_LAUNCHER, FRONT_PROGRAM } from '../helpers/cli-paths.js';
import { makeTestCa, opensslReason, type TestCa } from '../helpers/test-ca.js';
import { makeTempDir } from '../helpers/tmp-dir.js';
import { mountReason, skipIf } from './prereqs.js';

const BODY = 'served over TLS\n';
const SUM = `sha256:${createHash('sha256').update(BODY).digest('hex')}`;

/** Runs a program without blocking this process's event loop: the HTTPS server lives here. */
function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const tlsReason = opensslReason();
const frontReason =
  tlsReason ?? (existsSync(FRONT_PROGRAM) ? undefined : `${FRONT_PROGRAM} is missing (npm run build:native)`);
const buildReason = frontReason ?? mountReason();

describe('NODE_EXTRA_CA_CERTS, deferred to the first TLS connection', { concurrency: false }, () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let ca: TestCa;
  let server: Server;
  let origin: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    tmp = await makeTempDir('strata-extra-ca-');
    env = {
      PATH: process.env.PATH,
      HOME: tmp.path,
      STRATA_ROOT: join(tmp.path, 'store'),
      XDG_CACHE_HOME: join(tmp.path, 'cache'),
    };
    if (tlsReason !== undefined) return;
    ca = makeTestCa(tmp.path);
    server = createServer({ key: ca.key, cert: ca.cert }, (req, res) => {
      if (req.url === '/files/tool.txt') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(BODY);
      } else if (req.url === '/moved') {
        res.writeHead(302, { location: '/files/tool.txt' });
        res.end();
      } else if (req.url === '/v2/') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    await tmp?.cleanup();
  });

  test('the front program moves the variable aside for Node, and the CLI puts it back', (t) => {
    if (skipIf(t, frontReason)) return;
    // A "node" that prints the environment it was started with.
    const fake = join(tmp.path, 'print-env');
    writeFileSync(fake, '#!/bin/sh\nenv\n', { mode: 0o755 });
    const r = spawnSync(FRONT_PROGRAM, ['--version'], {
      env: { ...env, STRATA_NODE: fake, NODE_EXTRA_CA_CERTS: ca.caFile },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.ok(lines.includes(`${MOVED_EXTRA_CA}=${ca.caFile}`), r.stdout);
    assert.ok(!lines.some((l) => l.startsWith('NODE_EXTRA_CA_CERTS=')), r.stdout);
    // Unset or empty: nothing moved.
    const empty = spawnSync(FRONT_PROGRAM, ['--version'], {
      env: { ...env, STRATA_NODE: fake, NODE_EXTRA_CA_CERTS: '' },
      encoding: 'utf8',
    });
    assert.ok(empty.stdout.split('\n').includes('NODE_EXTRA_CA_CERTS='), empty.stdout);
    assert.ok(!empty.stdout.includes(MOVED_EXTRA_CA), empty.stdout);
  });

  test('ADD https:// through the front program: trusted with the variable, refused without, with a hint', async (t) => {
    if (skipIf(t, buildReason)) return;
    const ctx = join(tmp.path, 'ctx');
    mkdirSync(ctx, { recursive: true });
    // Through a redirect, so both hops are verified.
    writeFileSync(
      join(ctx, 'Dockerfile'),
      `FROM scratch\nADD --checksum=${SUM} ${origin}/moved /opt/tool.txt\n`,
    );
    const build = (extra: NodeJS.ProcessEnv, viaNode = false) =>
      run(
        viaNode ? process.execPath : FRONT_PROGRAM,
        [...(viaNode ? [CLI_LAUNCHER] : []), 'build', '-q', '-t', 'tls:1', ctx],
        { ...env, STRATA_BUILD_MEMO: '0', ...extra },
      );
    const refused = await build({});
    assert.notEqual(refused.status, 0);
    assert.match(
      refused.stderr,
      /failed to fetch https:\/\/127\.0\.0\.1:\d+\/moved: .*(certificate|self.signed)/i,
    );
    assert.match(refused.stderr, /NODE_EXTRA_CA_CERTS/);

    const viaFront = await build({ NODE_EXTRA_CA_CERTS: ca.caFile });
    assert.equal(viaFront.status, 0, viaFront.stderr);
    assert.match(viaFront.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    // Node loading the variable itself (the CLI started without the front program): same image.
    const viaNode = await build({ NODE_EXTRA_CA_CERTS: ca.caFile, STRATA_CODE_CACHE: '0' }, true);
    assert.equal(viaNode.status, 0, viaNode.stderr);
    assert.equal(viaNode.stdout, viaFront.stdout);

    // A file that cannot be read: a warning, as Node gives at start, and the default roots stay.
    const missing = await build({ NODE_EXTRA_CA_CERTS: join(tmp.path, 'no-such.pem') });
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /Ignoring extra certs from `.*no-such\.pem`, load failed/);
    assert.match(missing.stderr, /certificate/i);
  });

  test('a no-op build with the variable set is still answered by the front program', (t) => {
    if (skipIf(t, buildReason)) return;
    const ctx = join(tmp.path, 'memo-ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a /a\n');
    writeFileSync(join(ctx, 'a'), 'a\n');
    spawnSync('sleep', ['0.25']); // older than the memo's racy margin
    const withCa = { ...env, NODE_EXTRA_CA_CERTS: ca.caFile };
    const args = ['build', '-q', '-t', 'memo-tls:1', ctx];
    const first = spawnSync(FRONT_PROGRAM, args, { env: withCa, encoding: 'utf8', timeout: 120_000 });
    assert.equal(first.status, 0, first.stderr);
    // No node on PATH: only an answer from the memo can succeed.
    const again = spawnSync(FRONT_PROGRAM, args, {
      env: { ...withCa, PATH: join(tmp.path, 'no-such-dir') },
      encoding: 'utf8',
    });
    assert.deepEqual(
      { code: again.status, stdout: again.stdout, stderr: again.stderr },
      { code: 0, stdout: first.stdout, stderr: '' },
    );
  });

  test('registry exchanges that verify TLS trust the deferred certificates', async (t) => {
    if (skipIf(t, tlsReason)) return;
    // 127.0.0.1 is insecure (unverified) by default, as with docker: this transport verifies.
    const transport = () =>
      new RegistryTransport(`127.0.0.1:${(server.address() as AddressInfo).port}`, {
        insecure: false,
        retry: { attempts: 1 },
      });
    assert.equal(deferredExtraCaFile(), undefined);
    await assert.rejects(transport().ping(), (e: unknown) => {
      assert.match((e as Error).message, /certificate|self.signed/i);
      // What to do about it, as ADD says.
      assert.match((e as { hint?: string }).hint ?? '', /NODE_EXTRA_CA_CERTS.*STRATA_INSECURE_REGISTRIES/s);
      return true;
    });
    // What the CLI does first thing: the variable back under its own name, the file remembered.
    const e: NodeJS.ProcessEnv = { [MOVED_EXTRA_CA]: ca.caFile, OTHER: 'x' };
    takeMovedExtraCa(e);
    assert.deepEqual(e, { NODE_EXTRA_CA_CERTS: ca.caFile, OTHER: 'x' });
    assert.equal(deferredExtraCaFile(), ca.caFile);
    assert.deepEqual(await transport().ping(), { scheme: 'https', challenge: undefined });
  });
});

test('a Node process the CLI starts itself gets the variable moved, and its main() puts it back', () => {
  const env: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: '/etc/ca.pem', PATH: '/bin' };
  const moved = withExtraCaMoved(env);
  assert.deepEqual(moved, { [MOVED_EXTRA_CA]: '/etc/ca.pem', PATH: '/bin' });
  assert.equal(env.NODE_EXTRA_CA_CERTS, '/etc/ca.pem', 'the given environment is left as it was');
  const restored = { ...moved };
  takeMovedExtraCa(restored);
  assert.deepEqual(restored, env);
  for (const none of [{ PATH: '/bin' }, { NODE_EXTRA_CA_CERTS: '', PATH: '/bin' }])
    assert.deepEqual(withExtraCaMoved(none), none);
});
